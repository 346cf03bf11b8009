// Scrape cost (issue 14, point 1): DaemonMetrics::Render — what GET /metrics runs — at 8 GPUs,
// 32 services (each on every GPU, with foreign processes and a ghost beside them), 10,000 queued
// jobs and a day of events (every histogram and counter filled). The text is built from memory
// only; this is its whole cost apart from the HTTP write. p50 / p99 per scrape are counters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

#include "daemon/event_hub.h"
#include "daemon/metrics.h"

namespace {

using vg::Bytes;

struct ScrapeWorld {
  vg::VramSample sample;
  vg::MetricsInputs in;
  vg::DaemonMetrics metrics;

  ScrapeWorld() {
    for (unsigned g = 0; g < 8; ++g) {
      vg::GpuHoldings h;
      h.gpu.index = g;
      h.gpu.uuid = "GPU-" + std::to_string(g) + "-5e1f0c2a-8d1b-4c57-9a8e-0b2f4c6d8e10";
      h.gpu.name = "NVIDIA H100 80GB HBM3";
      h.gpu.total = Bytes::GiB(80);
      h.gpu.used = Bytes::GiB(70);
      h.gpu.free = Bytes::GiB(10);
      h.gpu.reserved = Bytes::MiB(512);
      h.gpu.utilization_percent = 60;
      for (int s = 0; s < 32; ++s)
        h.holders.push_back(
            {vg::VramHolding::Kind::kService, "service-" + std::to_string(s), 0, Bytes::GiB(2)});
      for (int f = 0; f < 4; ++f)
        h.holders.push_back({vg::VramHolding::Kind::kForeign, "python3", 40000 + f, Bytes::GiB(1)});
      h.holders.push_back({vg::VramHolding::Kind::kGhost, "", 39999, Bytes::GiB(1)});
      sample.gpus.push_back(std::move(h));
    }
    const char* states[] = {"running", "stopped", "waiting-for-vram", "backoff"};
    for (int s = 0; s < 32; ++s) {
      const std::string name = "service-" + std::to_string(s);
      sample.members[name] = 6;
      in.services.push_back({name, states[s % 4], s % 3, 1'000'000});
      // 10,000 queued jobs in all: 312 or 313 per service, counted, not listed.
      in.jobs[name] = {.queued = 10000 / 32 + (s < 10000 % 32), .starting = 1, .running = 2};
      for (int i = 0; i < 200; ++i) {  // a day of events: every series and bucket in use
        vg::EventRecord e;
        e.service = name;
        e.kind = "job-started";
        e.data = {{"waited_s", 0.1 * i}};
        metrics.OnEvent(e);
        e.kind = i % 10 ? "job-done" : "job-failed";
        e.data = {{"run_s", 0.05 * i},
                  {"estimate_bytes", 1000},
                  {"observed_peak_bytes", 500 + 5 * i},
                  {"observation", "exact"}};
        metrics.OnEvent(e);
      }
      for (const char* kind : {"oom", "sticky", "port-clash", "job-refused", "job-queued"}) {
        vg::EventRecord e;
        e.service = name;
        e.kind = kind;
        metrics.OnEvent(e);
      }
      vg::EventRecord stop;
      stop.service = name;
      stop.kind = "stopped";
      stop.data = {{"signalled", 1},
                   {"exit_s", 0.3},
                   {"expected_bytes", 1 << 30},
                   {"verified", true},
                   {"back_s", 0.02}};
      metrics.OnEvent(stop);
    }
    in.sample = &sample;
    in.sample_unix_ms = 1'000'000;
    in.now_unix_ms = 1'001'000;
    in.started_unix_ms = 900'000;
    in.version = "0.1.0";
  }
};

void BM_Scrape(benchmark::State& state) {
  ScrapeWorld w;
  std::vector<double> us;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    std::string text = w.metrics.Render(w.in);
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
