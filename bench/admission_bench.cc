// Admission decision time with 10,000 queued jobs (issue 5, point 7): one decision for a newly
// submitted job, and a re-plan after a job finished — the planner as built (services that
// cannot move are dropped from the walk) side by side with the same planner walking every job.
// Google Benchmark reports means; each benchmark also times every iteration itself and reports
// p50 / p99 in microseconds as counters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/admission.h"

namespace {

using vg::Bytes;
using Clock = std::chrono::steady_clock;

constexpr int kQueued = 10000;
const vg::SteadyTime kT0{};
const vg::SteadyTime kNow = kT0 + std::chrono::seconds(20000);

// Two 24 GiB GPUs, three services on each (8 GiB models, concurrency 4), each running jobs
// that fill its GPU; 10,000 queued jobs of 1–12 GiB, priorities 0–3, submitted over the last
// ~3 hours (so the oldest have waited past the backfill age limit unless `young`).
struct World {
  vg::ClusterSnapshot cluster;
  vg::JobQueue queue;
  std::uint64_t next_seq = 0;

  explicit World(bool young) {
    std::mt19937 rng(42);
    for (unsigned g = 0; g < 2; ++g) {
      cluster.gpus.push_back({g, Bytes::GiB(24), Bytes::GiB(0), Bytes::GiB(2)});
    }
    Bytes used[2];
    for (int i = 0; i < 6; ++i) {
      vg::ServiceSnapshot s;
      s.name = "svc" + std::to_string(i);
      unsigned g = static_cast<unsigned>(i % 2);
      s.gpus = {g};
      s.state = vg::ServiceRun::kRunning;
      s.baseline = s.start_vram = Bytes::GiB(2);
      s.concurrency = 4;
      Bytes held = s.baseline;
      // svc0/svc1 run one job each (the others are idle): 2 + 2×(2 + 2) … GPU nearly full.
      if (i < 2) {
        for (int j = 0; j < 2; ++j) {
          s.running.push_back({s.name + "-r" + std::to_string(j), g, Bytes::GiB(7), true,
                               kT0 + std::chrono::seconds(19990)});
          held += Bytes::GiB(7);
        }
      }
      s.held[g] = held;
      used[g] += held;
      s.startup_time = vg::Millis(1000 * (i + 1));
      cluster.services.push_back(std::move(s));
    }
    for (auto& gpu : cluster.gpus) gpu.driver_free = gpu.total - used[gpu.index];
    for (int i = 0; i < kQueued; ++i) {
      vg::QueuedJob j;
      j.id = "job" + std::to_string(i);
      j.service = "svc" + std::to_string(rng() % 6);
      j.priority = static_cast<int>(rng() % 4);
      j.seq = ++next_seq;
      auto age = std::chrono::seconds(young ? 10 : 10000);
      j.submitted = kNow - age + std::chrono::milliseconds(i);
      j.estimate = Bytes::GiB(1 + rng() % 12);
      queue.Add(std::move(j));
    }
  }

  // The same world just after one of svc0's running jobs finished (its memory back as cache).
  vg::ClusterSnapshot AfterCompletion() const {
    vg::ClusterSnapshot c = cluster;
    c.services[0].running.pop_back();
    return c;
  }
};

void Percentiles(benchmark::State& state, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  if (us.empty()) return;
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

void BM_DecideNewJob(benchmark::State& state) {
  World w(/*young=*/state.range(0) != 0);
  std::mt19937 rng(7);
  std::vector<double> us;
  for (auto _ : state) {
    vg::QueuedJob j{
        "new", "svc" + std::to_string(rng() % 6), static_cast<int>(rng() % 4), w.next_seq + 1,
        kNow,  Bytes::GiB(1 + rng() % 12)};
    auto t = Clock::now();
    vg::Decision d = vg::DecideJob(w.cluster, w.queue, j, {}, kNow);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    benchmark::DoNotOptimize(d);
  }
  Percentiles(state, us);
}
BENCHMARK(BM_DecideNewJob)->Arg(0)->Arg(1)->ArgName("young")->Unit(benchmark::kMicrosecond);

void BM_ReplanAfterCompletion(benchmark::State& state) {
  World w(/*young=*/state.range(0) != 0);
  vg::ClusterSnapshot after = w.AfterCompletion();
  vg::AdmissionOptions options;
  options.drop_stuck_services = state.range(1) != 0;
  std::vector<double> us;
  std::size_t actions = 0;
  for (auto _ : state) {
    auto t = Clock::now();
    std::vector<vg::Decision> plan = vg::Plan(after, w.queue, {}, kNow, options);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    actions = plan.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["actions"] = static_cast<double>(actions);
  Percentiles(state, us);
}
BENCHMARK(BM_ReplanAfterCompletion)
    ->Args({0, 1})
    ->Args({0, 0})
    ->Args({1, 1})
    ->Args({1, 0})
    ->ArgNames({"young", "drop_stuck"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
