#include "core/reap_plan.h"

#include <gtest/gtest.h>

#include "testing/fakes.h"

namespace vg {
namespace {

using testing::MakeGpu;
using testing::MakeProcess;

struct World {
  VramViewInput in;
  VramView view;
  Caller caller{900, 1000, {800, 1}};
  void Build() { view = BuildVramView(in); }
  Result<ReapPlan> Plan(ReapRequest r) { return PlanReap(view, in.processes, r, caller); }
};

// A service (100) with a forked worker (101) sharing its context, a ghost (526) held by 547 and
// its own child 548, an orphan (600), a monitor (777), another user's process (700), and the
// caller (900, vramguard) under a shell (800).
World MakeWorld() {
  World w;
  w.in.snapshot.gpus.push_back(MakeGpu(
      0, Bytes::GiB(24),
      {{100, Bytes::GiB(8)}, {526, Bytes::GiB(10)}, {600, Bytes::GiB(1)}, {700, Bytes::GiB(2)}}));
  ProcessInfo holder = MakeProcess(547, 1, "python3");
  holder.sid = 526;
  ProcessInfo orphan = MakeProcess(600, 1, "python");
  orphan.sid = 590;
  w.in.processes = {MakeProcess(1, 0, "systemd", 0),
                    MakeProcess(50, 1, "bash"),
                    MakeProcess(100, 50, "python"),
                    MakeProcess(101, 100, "python"),
                    holder,
                    MakeProcess(548, 547, "sh"),
                    orphan,
                    MakeProcess(700, 50, "python", 1001),
                    MakeProcess(777, 1, "nvidia-smi"),
                    MakeProcess(800, 1, "bash"),
                    MakeProcess(900, 800, "vramguard"),
                    MakeProcess(950, 50, "vim")};
  w.in.holders.holders = {{100, {0}, {0}, true}, {101, {0}, {0}, true}, {547, {0}, {0}, true},
                          {600, {0}, {0}, true}, {700, {0}, {0}, true}, {777, {0}, {}, true},
                          {900, {0}, {}, true}};
  w.in.self = 900;
  w.Build();
  return w;
}

std::vector<pid_t> Pids(const ReapPlan& p) {
  std::vector<pid_t> out;
  for (const ReapTarget& t : p.targets) out.push_back(t.pid);
  return out;
}

TEST(ReapPlan, GhostsTargetTheHoldersAndTheirDescendants) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kGhosts, {}});
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_EQ(Pids(*plan), (std::vector<pid_t>{547, 548}));
  ASSERT_EQ(plan->releases.size(), 1u);
  EXPECT_EQ(plan->releases[0].listed_pid, 526);
  EXPECT_EQ(plan->ExpectedBytes(), Bytes::GiB(10));
}

TEST(ReapPlan, PidTakesItsForkedWorkersAlong) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kPids, {100}});
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(Pids(*plan), (std::vector<pid_t>{100, 101}));
  ASSERT_EQ(plan->releases.size(), 1u);
  EXPECT_EQ(plan->releases[0].listed_pid, 100);
}

TEST(ReapPlan, KillingOnlyASharerFreesNothingAndSaysSo) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kPids, {101}});
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->releases.empty());
  ASSERT_FALSE(plan->notes.empty());
  EXPECT_NE(plan->notes[0].find("stays held by 100"), std::string::npos);
}

TEST(ReapPlan, OrphansAreOnlyTheOrphans) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kOrphans, {}});
  ASSERT_TRUE(plan.has_value());
  // 547 is an orphan holder too (its parent died): reaping orphans takes it as well.
  EXPECT_EQ(Pids(*plan), (std::vector<pid_t>{600, 547, 548}));
}

TEST(ReapPlan, RefusesInit) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kPids, {1}});
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().code, ErrorCode::kRefused);
}

TEST(ReapPlan, RefusesItselfAndItsAncestors) {
  World w = MakeWorld();
  EXPECT_EQ(w.Plan({ReapMode::kPids, {900}}).error().code, ErrorCode::kRefused);
  EXPECT_EQ(w.Plan({ReapMode::kPids, {800}}).error().code, ErrorCode::kRefused);
}

TEST(ReapPlan, RefusesAProcessWithoutVram) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kPids, {950}});
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().code, ErrorCode::kRefused);
  EXPECT_NE(plan.error().message.find("holds no VRAM"), std::string::npos);
}

TEST(ReapPlan, RefusesAPidThatDoesNotExist) {
  World w = MakeWorld();
  EXPECT_EQ(w.Plan({ReapMode::kPids, {4000000}}).error().code, ErrorCode::kNotFound);
}

TEST(ReapPlan, RefusesAnotherUsersProcessNamingTheOwner) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kPids, {700}});
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(plan.error().message.find("user1001"), std::string::npos);
}

TEST(ReapPlan, RootMayReapAnyone) {
  World w = MakeWorld();
  w.caller.uid = 0;
  EXPECT_TRUE(w.Plan({ReapMode::kPids, {700}}).has_value());
}

TEST(ReapPlan, MonitorMayBeReapedWhenNamedByPid) {
  World w = MakeWorld();
  auto plan = w.Plan({ReapMode::kPids, {777}});
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(Pids(*plan), std::vector<pid_t>{777});
  EXPECT_TRUE(plan->releases.empty());
}

TEST(ReapPlan, NoGhostsMeansAnEmptyPlanWithANote) {
  World w = MakeWorld();
  w.in.snapshot.gpus[0].processes.erase(w.in.snapshot.gpus[0].processes.begin() + 1);
  w.in.holders.holders.erase(w.in.holders.holders.begin() + 2);
  w.Build();
  auto plan = w.Plan({ReapMode::kGhosts, {}});
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->targets.empty());
  EXPECT_EQ(plan->notes, std::vector<std::string>{"no ghosts: nothing to reap"});
}

TEST(ReapPlan, GhostReapingRefusedInNestedNamespace) {
  World w = MakeWorld();
  w.in.nested_pid_namespace = true;
  w.Build();
  EXPECT_EQ(w.Plan({ReapMode::kGhosts, {}}).error().code, ErrorCode::kRefused);
}

TEST(ReapPlan, AncestorsWalkTheTree) {
  World w = MakeWorld();
  EXPECT_EQ(AncestorsOf(900, w.in.processes), (std::vector<pid_t>{800, 1}));
}

}  // namespace
}  // namespace vg
