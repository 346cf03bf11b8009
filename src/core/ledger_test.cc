#include "core/ledger.h"

#include <gtest/gtest.h>

#include "core/ledger_testing.h"

namespace vg {
namespace {

constexpr Bytes GiB(std::uint64_t n) { return Bytes::GiB(n); }
using testing::GiBf;
using testing::OneGpuCluster;

ServiceSnapshot Running(std::string name, Bytes baseline, Bytes held) {
  return testing::RunningService(std::move(name), baseline, held, 4);
}

TEST(Ledger, ReservationOfAJobNotAtItsPeakCountsUntilTheDriverSeesIt) {
  // 6 GiB job admitted, not grown yet: the driver still shows 15.5 GiB free.
  ServiceSnapshot s = Running("video", GiBf(8.5), GiBf(8.5));
  s.running.push_back({"j1", 0, GiB(6), false, {}});
  ClusterSnapshot before = OneGpuCluster(GiB(24), {s});
  EXPECT_EQ(Ledger(before).Plannable(0), GiBf(7.5));  // 24 − 8.5 − 6 − 2
  // At its peak the driver shows it; the answer is the same.
  s.held[0] = GiBf(14.5);
  s.running[0].at_peak = true;
  ClusterSnapshot after = OneGpuCluster(GiB(24), {s});
  EXPECT_EQ(Ledger(after).Plannable(0), GiBf(7.5));
}

TEST(Ledger, JobAtPeakBelowItsEstimateGivesTheDifferenceBack) {
  ServiceSnapshot s = Running("video", GiB(8), GiB(12));  // used 4 of its 6 GiB estimate
  s.running.push_back({"j1", 0, GiB(6), true, {}});
  ClusterSnapshot c = OneGpuCluster(GiB(24), {s});
  EXPECT_EQ(Ledger(c).Plannable(0), GiB(10));
}

TEST(Ledger, CacheServesItsOwnServiceWithoutNewMemory) {
  // Holds 18 GiB of cache above an 8 GiB model on a 48 GiB GPU.
  ServiceSnapshot s = Running("video", GiB(8), GiB(26));
  ClusterSnapshot c = OneGpuCluster(GiB(48), {s, Running("llm", GiB(2), GiB(2))});
  Ledger l(c);
  EXPECT_EQ(l.ExtraFor("video", 0, GiB(16)), GiB(0));
  EXPECT_EQ(l.ExtraFor("video", 0, GiB(20)), GiB(2));
  EXPECT_EQ(l.ExtraFor("llm", 0, GiB(16)), GiB(16));  // for anyone else it is used
  EXPECT_EQ(l.Plannable(0), GiB(18));                 // 48 − 26 − 2 − 2
  l.Admit("video", 0, GiB(16));
  EXPECT_EQ(l.Plannable(0), GiB(18));  // still inside its cache
  l.Admit("video", 0, GiB(4));         // 16 + 4 > 18 cache: 2 GiB new
  EXPECT_EQ(l.Plannable(0), GiB(16));
}

TEST(Ledger, ReleaseAndStopGiveMemoryBack) {
  ServiceSnapshot s = Running("video", GiB(8), GiB(26));
  s.has_release_hook = true;
  ClusterSnapshot c = OneGpuCluster(GiB(48), {s});
  Ledger released(c);
  released.Release("video");
  EXPECT_EQ(released.Plannable(0), GiB(38));
  Ledger stopped(c);
  stopped.Stop("video");
  EXPECT_EQ(stopped.Plannable(0), GiB(46));
  EXPECT_EQ(stopped.ExtraFor("video", 0, GiB(4)), GiB(12));  // start again + the job
}

TEST(Ledger, ForeignProcessesAndStartingServices) {
  ServiceSnapshot s = Running("video", GiB(8), GiB(1));  // still loading
  s.state = ServiceRun::kStarting;
  ClusterSnapshot c = OneGpuCluster(GiB(24), {s}, /*other=*/GiB(3));
  Ledger l(c);
  EXPECT_EQ(l.Plannable(0), GiB(11));  // 24 − 3 (desktop) − 8 (it will hold) − 2
  EXPECT_EQ(l.EmptyCapacity("video"), GiB(14));
}

}  // namespace
}  // namespace vg
