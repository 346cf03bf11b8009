#include "core/admission.h"

#include <gtest/gtest.h>

#include <random>

#include "core/ledger_testing.h"

namespace vg {
namespace {

using std::chrono::seconds;

constexpr Bytes GiB(std::uint64_t n) { return Bytes::GiB(n); }
using testing::GiBf;
const SteadyTime kT0{};

ServiceSnapshot Svc(std::string name, Bytes baseline, unsigned concurrency = 1) {
  return testing::RunningService(std::move(name), baseline, baseline, concurrency);
}

ServiceSnapshot Stopped(std::string name, Bytes start_vram) {
  ServiceSnapshot s = Svc(std::move(name), start_vram);
  s.state = ServiceRun::kStopped;
  s.held.clear();
  return s;
}

// One GPU; driver free = total − everything the services hold.
ClusterSnapshot Cluster(Bytes total, std::vector<ServiceSnapshot> services) {
  return testing::OneGpuCluster(total, std::move(services));
}

struct Q {
  JobQueue queue;
  std::uint64_t seq = 0;
  QueuedJob& Add(const std::string& id, std::string service, Bytes estimate, int priority = 0,
                 SteadyTime submitted = kT0) {
    QueuedJob j{id, std::move(service), priority, ++seq, submitted, estimate};
    EXPECT_TRUE(queue.Add(j));
    return const_cast<QueuedJob&>(*queue.Find(id));
  }
};

std::vector<std::string> Ids(const std::vector<Decision>& ds, Verdict v) {
  std::vector<std::string> out;
  for (const auto& d : ds) {
    if (d.verdict == v) out.push_back(d.job_id);
  }
  return out;
}

using Names = std::vector<std::string>;

TEST(Admission, NeverFitsIsRefusedNotNowWaits) {
  ServiceSnapshot s = Svc("video", GiBf(8.5), 2);
  s.running.push_back({"r", 0, GiB(6), false, kT0});
  ClusterSnapshot c = Cluster(GiB(24), {s});
  JobQueue empty;
  // Capacity on an empty GPU: 24 − 2 − 8.5 = 13.5 GiB.
  Decision never = DecideJob(c, empty, {"big", "video", 0, 1, kT0, GiB(14)}, {}, kT0);
  EXPECT_EQ(never.verdict, Verdict::kRefuse);
  EXPECT_EQ(never.capacity, GiBf(13.5));
  Decision later = DecideJob(c, empty, {"mid", "video", 0, 2, kT0, GiB(10)}, {}, kT0);
  EXPECT_EQ(later.verdict, Verdict::kWait) << later.reason;
  EXPECT_EQ(later.plannable, GiBf(7.5));
  EXPECT_EQ(later.position, 1u);
  Decision now = DecideJob(c, empty, {"small", "video", 0, 3, kT0, GiB(7)}, {}, kT0);
  EXPECT_EQ(now.verdict, Verdict::kAdmit);
  EXPECT_EQ(now.gpu, 0u);
}

TEST(Admission, ConcurrencyByBytesAndByLimit) {
  Q q;
  for (int i = 1; i <= 5; ++i) q.Add("j" + std::to_string(i), "video", GiB(4));
  // 13.5 GiB plannable: three 4 GiB jobs fit, not four.
  auto plan = Plan(Cluster(GiB(24), {Svc("video", GiBf(8.5), 8)}), q.queue, {}, kT0);
  EXPECT_EQ(Ids(plan, Verdict::kAdmit), (Names{"j1", "j2", "j3"}));
  // Limit 2: two.
  plan = Plan(Cluster(GiB(24), {Svc("video", GiBf(8.5), 2)}), q.queue, {}, kT0);
  EXPECT_EQ(Ids(plan, Verdict::kAdmit), (Names{"j1", "j2"}));
}

TEST(Admission, PriorityFirstThenFifo) {
  Q q;
  q.Add("low", "video", GiB(4), 0);
  q.Add("high1", "video", GiB(4), 5);
  q.Add("high2", "video", GiB(4), 5);
  ClusterSnapshot c = Cluster(GiB(24), {Svc("video", GiBf(8.5), 1)});
  EXPECT_EQ(Ids(Plan(c, q.queue, {}, kT0), Verdict::kAdmit), (Names{"high1"}));
  q.queue.Remove("high1");
  EXPECT_EQ(Ids(Plan(c, q.queue, {}, kT0), Verdict::kAdmit), (Names{"high2"}));
  EXPECT_EQ(q.queue.Position("low"), 2u);
  // A new job of priority 5 goes ahead of "low" only.
  Decision d = DecideJob(c, q.queue, {"new", "video", 5, 99, kT0, GiB(4)}, {}, kT0);
  ServiceSnapshot busy = Svc("video", GiBf(8.5), 1);
  busy.running.push_back({"x", 0, GiB(1), false, kT0});
  d = DecideJob(Cluster(GiB(24), {busy}), q.queue, {"new", "video", 5, 99, kT0, GiB(4)}, {}, kT0);
  EXPECT_EQ(d.verdict, Verdict::kWait);
  EXPECT_EQ(d.position, 2u);  // behind high2
}

TEST(Admission, BackfillUntilTheBlockedJobAgesThenNothingPassesIt) {
  ServiceSnapshot s = Svc("video", GiBf(8.5), 4);
  s.running.push_back({"r", 0, GiB(8), false, kT0});
  ClusterSnapshot c = Cluster(GiB(24), {s});  // 5.5 GiB plannable
  Q q;
  q.Add("big", "video", GiB(10));
  q.Add("small", "video", GiB(2), 0, kT0 + seconds(1));
  auto plan = Plan(c, q.queue, {}, kT0 + seconds(10));
  EXPECT_EQ(Ids(plan, Verdict::kAdmit), (Names{"small"}));  // backfill: big is young
  plan = Plan(c, q.queue, {}, kT0 + seconds(31));
  EXPECT_TRUE(plan.empty());  // big waited > 30 s: its GPU is held for it
  Decision d = DecideJob(c, q.queue, {"new", "video", 0, 99, kT0 + seconds(31), GiB(1)}, {},
                         kT0 + seconds(31));
  EXPECT_EQ(d.verdict, Verdict::kWait);
  EXPECT_EQ(d.position, 3u);
  // The running job ends: big goes first.
  plan = Plan(Cluster(GiB(24), {Svc("video", GiBf(8.5), 4)}), q.queue, {}, kT0 + seconds(40));
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan[0].job_id, "big");
}

TEST(Admission, WaitingForConcurrencyReservesNothing) {
  ServiceSnapshot a = Svc("a", GiB(4), 1);
  a.running.push_back({"r", 0, GiB(2), true, kT0});
  a.held[0] = GiB(6);
  ClusterSnapshot c = Cluster(GiB(24), {a, Svc("b", GiB(4), 1)});
  Q q;
  q.Add("a2", "a", GiB(2));
  q.Add("b1", "b", GiB(2), 0, kT0 + seconds(1));
  auto plan = Plan(c, q.queue, {}, kT0 + seconds(100));
  EXPECT_EQ(Ids(plan, Verdict::kAdmit), (Names{"b1"}));
}

TEST(Admission, CachedMemoryServesItsOwnServiceNotOthers) {
  ServiceSnapshot video = Svc("video", GiB(8));
  video.held[0] = GiB(26);  // 18 GiB of cache
  ServiceSnapshot llm = Svc("llm", GiB(2));
  ClusterSnapshot c = Cluster(GiB(48), {video, llm});  // 20 GiB free, 18 plannable
  JobQueue empty;
  Decision own = DecideJob(c, empty, {"v", "video", 0, 1, kT0, GiB(16)}, {}, kT0);
  EXPECT_EQ(own.verdict, Verdict::kAdmit);
  EXPECT_EQ(own.new_bytes, GiB(0));
  // 22 GiB for llm: only with video's cache. No release hook, idle: stop it.
  Decision other = DecideJob(c, empty, {"l", "llm", 0, 2, kT0, GiB(22)}, {}, kT0);
  EXPECT_EQ(other.verdict, Verdict::kFreeMemory) << other.reason;
  EXPECT_EQ(other.stop, (Names{"video"}));
  EXPECT_TRUE(other.release.empty());
  // With a release hook, a release is enough and preferred.
  c.services[0].has_release_hook = true;
  other = DecideJob(c, empty, {"l", "llm", 0, 2, kT0, GiB(22)}, {}, kT0);
  EXPECT_EQ(other.verdict, Verdict::kFreeMemory);
  EXPECT_EQ(other.release, (Names{"video"}));
  EXPECT_TRUE(other.stop.empty());
  // Busy: never touched; the job waits.
  c.services[0].running.push_back({"v1", 0, GiB(16), true, kT0});
  other = DecideJob(c, empty, {"l", "llm", 0, 2, kT0, GiB(22)}, {}, kT0);
  EXPECT_EQ(other.verdict, Verdict::kWait);
}

TEST(Admission, SwapStopsTheIdleServiceThatIsQuickestToBringBack) {
  ServiceSnapshot slow = Svc("slow", GiB(9));
  slow.startup_time = Millis(60000);
  ServiceSnapshot quick = Svc("quick", GiB(9));
  quick.startup_time = Millis(5000);
  ServiceSnapshot target = Stopped("target", GiB(8));
  ClusterSnapshot c = Cluster(GiB(24), {slow, quick, target});  // 4 GiB plannable
  Q q;
  q.Add("t1", "target", GiB(2));
  auto plan = Plan(c, q.queue, {}, kT0);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].verdict, Verdict::kFreeMemory);
  EXPECT_EQ(plan[0].stop, (Names{"quick"}));
  EXPECT_TRUE(plan[0].start_service);
  // The quick one runs a job: the slow one goes instead.
  c.services[1].running.push_back({"q1", 0, GiB(1), true, kT0});
  plan = Plan(c, q.queue, {}, kT0);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].stop, (Names{"slow"}));
  // Both busy: wait.
  c.services[0].running.push_back({"s1", 0, GiB(1), true, kT0});
  EXPECT_TRUE(Plan(c, q.queue, {}, kT0).empty());
}

TEST(Admission, StoppedServiceWithRoomIsStarted) {
  ClusterSnapshot c = Cluster(GiB(24), {Stopped("video", GiBf(8.5))});
  JobQueue empty;
  Decision d = DecideJob(c, empty, {"j", "video", 0, 1, kT0, GiB(4)}, {}, kT0);
  EXPECT_EQ(d.verdict, Verdict::kStartService);
  EXPECT_TRUE(d.start_service);
  EXPECT_EQ(d.new_bytes, GiBf(12.5));
}

// A job that waits for its stopped service's start-up memory says so: not "needs ~3 GiB, 10 GiB
// plannable now", which reads as if it should fit.
TEST(Admission, WaitingOnAStoppedServicesStartUpSaysSo) {
  ServiceSnapshot busy = Svc("other", GiB(12));
  busy.running.push_back({"r", 0, GiB(1), false, kT0});
  ClusterSnapshot c = Cluster(GiB(24), {Stopped("video", GiB(9)), busy});
  JobQueue empty;
  Decision d = DecideJob(c, empty, {"j", "video", 0, 1, kT0, GiB(3)}, {}, kT0);
  ASSERT_EQ(d.verdict, Verdict::kWait) << d.reason;
  EXPECT_EQ(d.reason, "needs ~3.0 GiB and ~9.0 GiB to start video first (~12.0 GiB in all), " +
                          FormatBytes(d.plannable) + " plannable now");
}

TEST(Admission, OneServiceAtItsLimitDoesNotHoldUpAnother) {
  ServiceSnapshot a = Svc("a", GiB(4), 1);
  a.running.push_back({"r", 0, GiB(1), true, kT0});
  a.held[0] = GiB(5);
  ClusterSnapshot c = Cluster(GiB(24), {a, Svc("b", GiB(4), 1)});
  Q q;
  for (int i = 0; i < 1000; ++i) q.Add("a" + std::to_string(i), "a", GiB(1));
  q.Add("b1", "b", GiB(1));
  EXPECT_EQ(Ids(Plan(c, q.queue, {}, kT0), Verdict::kAdmit), (Names{"b1"}));
}

DurationBook DurationsOf(const std::string& service, const std::vector<Millis>& last) {
  DurationBook book;
  for (Millis m : last) RecordDuration(&book, service, m);
  return book;
}

TEST(Admission, EtaFromMedianDurations) {
  ServiceSnapshot s = Svc("video", GiBf(8.5), 1);
  s.running.push_back({"r", 0, GiB(4), true, kT0});
  ClusterSnapshot c = Cluster(GiB(24), {s});
  Q q;
  q.Add("a", "video", GiB(4));
  DurationBook book = DurationsOf("video", {Millis(10000), Millis(9000), Millis(60000)});
  Decision d = DecideJob(c, q.queue, {"b", "video", 0, 99, kT0, GiB(4)}, book, kT0 + seconds(4));
  EXPECT_EQ(d.verdict, Verdict::kWait);
  EXPECT_EQ(d.position, 2u);
  // The running one ends in 6 s (median 10 s; the 60 s outlier does not move it), then "a" runs.
  EXPECT_EQ(d.eta, Millis(6000 + 10000));
  EXPECT_EQ(d.typical, Millis(10000));
  EXPECT_EQ(d.measured, 3u);
  EXPECT_FALSE(d.eta_overdue);
  Decision unknown = DecideJob(c, q.queue, {"b", "video", 0, 99, kT0, GiB(4)}, {}, kT0);
  EXPECT_FALSE(unknown.eta);
  EXPECT_FALSE(unknown.typical);
}

// The reported bug: position 2 behind 1-second jobs said "eta ~0s".
TEST(Admission, EtaAtPositionTwoBehindOneSecondJobsIsNotZero) {
  EtaInput in;
  in.median = Millis(1000);
  in.running_elapsed = {Millis(900)};
  in.ahead = 1;
  Eta eta = EstimateStart(in);
  ASSERT_TRUE(eta.start_in);
  EXPECT_EQ(*eta.start_in, Millis(1100));  // 0.1 s left of the running one, then 1 s
  // Even when the running job is past its median: the job ahead still runs a whole second.
  in.running_elapsed = {Millis(3000)};
  eta = EstimateStart(in);
  EXPECT_EQ(eta.start_in, Millis(1000));
  EXPECT_TRUE(eta.overdue);
}

TEST(Admission, EtaUnknownWithoutMeasurements) {
  EtaInput in;
  in.ahead = 5;
  EXPECT_FALSE(EstimateStart(in).start_in);
  in.median = Millis(1000);
  in.memory_unknown = true;  // waits for memory no job will free
  EXPECT_FALSE(EstimateStart(in).start_in);
}

TEST(Admission, EtaFillsConcurrencySlots) {
  EtaInput in;
  in.median = Millis(4000);
  in.concurrency = 2;
  in.running_elapsed = {Millis(1000), Millis(3000)};  // slots free in 3 s and 1 s
  in.ahead = 0;
  EXPECT_EQ(EstimateStart(in).start_in, Millis(1000));
  in.ahead = 1;  // the job ahead takes the 1 s slot; this one the 3 s slot
  EXPECT_EQ(EstimateStart(in).start_in, Millis(3000));
  in.ahead = 2;  // ... then the one after the first ahead: 1 + 4 s
  EXPECT_EQ(EstimateStart(in).start_in, Millis(5000));
  in.running_elapsed = {};  // both slots free, but memory comes back in 2 s
  in.memory_free_in = Millis(2000);
  in.ahead = 1;
  EXPECT_EQ(EstimateStart(in).start_in, Millis(2000));
}

TEST(Admission, RecentDurationsAreBoundedAndMedian) {
  DurationBook book;
  EXPECT_FALSE(book["video"].Median());
  RecordDuration(&book, "video", Millis(10000));
  EXPECT_EQ(book.at("video").Median(), Millis(10000));
  RecordDuration(&book, "video", Millis(20000));
  EXPECT_EQ(book.at("video").Median(), Millis(15000));
  for (int i = 0; i < 30; ++i) RecordDuration(&book, "video", Millis(2000));
  EXPECT_EQ(book.at("video").last.size(), kRecentDurations);
  EXPECT_EQ(book.at("video").Median(), Millis(2000));  // the old ones are forgotten
  EXPECT_FALSE(book.contains("llm"));
}

// A random world: two GPUs, four services (some stopped, some with cache, some busy, one
// maybe on both GPUs) and a queue of mixed sizes, priorities and ages.
ClusterSnapshot RandomCluster(std::mt19937& rng) {
  ClusterSnapshot c;
  Bytes used[2];
  for (int i = 0; i < 4; ++i) {
    ServiceSnapshot s = Svc("s" + std::to_string(i), GiB(2 + rng() % 4), 1 + rng() % 4);
    unsigned g = rng() % 2;
    s.gpus = rng() % 4 == 0 ? std::vector<unsigned>{0, 1} : std::vector<unsigned>{g};
    s.held.clear();
    s.has_release_hook = rng() % 2;
    s.startup_time = Millis(1000 * (1 + rng() % 30));
    if (rng() % 4 == 0) {
      s.state = ServiceRun::kStopped;
    } else {
      Bytes held = s.baseline + GiB(rng() % 6);  // cache
      for (unsigned j = 0; j < rng() % 3 && j < s.concurrency; ++j) {
        Bytes e = GiB(1 + rng() % 4);
        s.running.push_back({"r" + std::to_string(j), s.gpus[0], e, rng() % 2 == 0, kT0});
        held += e;
      }
      s.held[s.gpus[0]] = held;
      used[s.gpus[0]] += held;
    }
    c.services.push_back(std::move(s));
  }
  for (unsigned g = 0; g < 2; ++g) {
    Bytes total = GiB(24);
    c.gpus.push_back({g, total, total - std::min(used[g], total), GiB(2)});
  }
  return c;
}

void RandomQueue(std::mt19937& rng, Q& q, int n) {
  for (int i = 0; i < n; ++i) {
    q.Add("j" + std::to_string(i), "s" + std::to_string(rng() % 4), GiB(1 + rng() % 14),
          static_cast<int>(rng() % 3), kT0 + seconds(i));
  }
}

TEST(Admission, DroppingStuckServicesChangesNoDecision) {
  // The planner's shortcut must give the same plan as walking every job.
  for (unsigned seed = 1; seed <= 600; ++seed) {
    std::mt19937 rng(seed);
    ClusterSnapshot c = RandomCluster(rng);
    Q q;
    RandomQueue(rng, q, 60);
    AdmissionOptions walk_all;
    walk_all.drop_stuck_services = false;
    auto fast = Plan(c, q.queue, {}, kT0 + seconds(60));
    auto full = Plan(c, q.queue, {}, kT0 + seconds(60), walk_all);
    ASSERT_EQ(fast.size(), full.size()) << "seed " << seed;
    for (std::size_t i = 0; i < fast.size(); ++i) {
      EXPECT_EQ(fast[i].job_id, full[i].job_id) << "seed " << seed;
      EXPECT_EQ(fast[i].verdict, full[i].verdict) << "seed " << seed;
      EXPECT_EQ(fast[i].gpu, full[i].gpu) << "seed " << seed;
    }
  }
}

TEST(Admission, DecidingANewJobAgreesWithPlanningTheQueue) {
  // On a planned queue (nothing can move), the decision for a new job equals what a re-plan
  // with the job queued decides for it.
  int compared = 0, moved = 0;
  for (unsigned seed = 1; seed <= 2000 && compared < 300; ++seed) {
    std::mt19937 rng(seed);
    ClusterSnapshot c = RandomCluster(rng);
    Q q;
    RandomQueue(rng, q, 1 + rng() % 20);
    const SteadyTime now = kT0 + seconds(rng() % 2 ? 10 : 40);  // young, or some aged
    if (!Plan(c, q.queue, {}, now).empty()) continue;           // not a planned queue
    ++compared;
    QueuedJob job{"new",
                  "s" + std::to_string(rng() % 4),
                  static_cast<int>(rng() % 3),
                  1000,
                  now,
                  GiB(1 + rng() % 14)};
    Decision d = DecideJob(c, q.queue, job, {}, now);
    q.queue.Add(job);
    std::vector<Decision> plan = Plan(c, q.queue, {}, now);
    ASSERT_LE(plan.size(), 1u) << "seed " << seed;
    if (plan.empty()) {
      EXPECT_EQ(d.verdict, Verdict::kWait) << "seed " << seed << ": " << d.reason;
      continue;
    }
    ++moved;
    EXPECT_EQ(plan[0].job_id, "new");
    EXPECT_EQ(plan[0].verdict, d.verdict) << "seed " << seed;
    EXPECT_EQ(plan[0].gpu, d.gpu) << "seed " << seed;
    EXPECT_EQ(plan[0].stop, d.stop) << "seed " << seed;
    EXPECT_EQ(plan[0].release, d.release) << "seed " << seed;
  }
  EXPECT_GE(compared, 100);
  EXPECT_GE(moved, 20);  // the comparison covers decisions other than waiting
}

TEST(Admission, QueueRemoveKeepsIndexesConsistent) {
  Q q;
  q.Add("a", "video", GiB(4));
  q.Add("b", "video", GiB(2));
  EXPECT_FALSE(q.queue.Add({"a", "video", 0, 100, kT0, GiB(1)}));
  EXPECT_TRUE(q.queue.Remove("a"));
  EXPECT_FALSE(q.queue.Remove("a"));
  EXPECT_EQ(q.queue.size(), 1u);
  EXPECT_EQ(*q.queue.services().at("video").estimates.begin(), GiB(2));
  EXPECT_TRUE(q.queue.Remove("b"));
  EXPECT_TRUE(q.queue.services().empty());
}

}  // namespace
}  // namespace vg
