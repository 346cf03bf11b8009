#include "ops/reaper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>

#include "testing/fakes.h"

namespace vg {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeGpuProbe;
using testing::FakeSignaller;
using testing::MakeGpu;

struct Rig {
  FakeClock clock;
  FakeSignaller signaller{clock};
  FakeGpuProbe gpu{GpuSnapshot{"580", {MakeGpu(0, Bytes::GiB(24), {{526, Bytes::GiB(10)}})}}};
  ReapPlan plan;
  ReapOptions options;
  Rig() {
    plan.targets.push_back(ReapTarget{547, 1547, 1000, "u", "python3 worker.py", "holder"});
    plan.releases.push_back(ExpectedRelease{0, 526, Bytes::GiB(10)});
    signaller.procs[547] = {1547};
    // The driver frees the ghost's memory two polls after its last holder is gone.
    signaller.on_exit = [this](pid_t) { gpu.RemoveAfter(0, 526, 2); };
    options.grace = 10s;
  }
  ReapOutcome Run() { return Reaper(signaller, gpu, clock).Execute(plan, gpu.snapshot(), options); }
};

TEST(Reaper, TermObeyedThenMemoryVerifiedBack) {
  Rig rig;
  ReapOutcome out = rig.Run();
  EXPECT_EQ(rig.signaller.sent, (std::vector<std::pair<pid_t, int>>{{547, SIGTERM}}));
  EXPECT_EQ(out.terminated, std::vector<pid_t>{547});
  EXPECT_TRUE(out.killed.empty());
  ASSERT_EQ(out.gpus.size(), 1u);
  EXPECT_TRUE(out.gpus[0].verified);
  EXPECT_EQ(out.gpus[0].freed, Bytes::GiB(10));
  EXPECT_EQ(out.gpus[0].back_after, 2 * rig.options.poll);  // polled, no fixed sleep
  EXPECT_EQ(out.gpus[0].free_after, Bytes::GiB(24));
  EXPECT_TRUE(out.verified);
}

TEST(Reaper, IgnoredTermEscalatesToKillAfterGrace) {
  Rig rig;
  rig.signaller.procs[547].ignores_term = true;
  ReapOutcome out = rig.Run();
  EXPECT_EQ(rig.signaller.sent,
            (std::vector<std::pair<pid_t, int>>{{547, SIGTERM}, {547, SIGKILL}}));
  EXPECT_EQ(out.killed, std::vector<pid_t>{547});
  EXPECT_GE(out.exit_time, 10s);
  EXPECT_TRUE(out.verified);
}

TEST(Reaper, GraceCountdownIsReportedWhileWaiting) {
  Rig rig;
  rig.signaller.procs[547].ignores_term = true;
  rig.options.grace = 1s;
  rig.options.tick = 250ms;
  std::vector<ReapWait> waits;
  rig.options.on_wait = [&](const ReapWait& w) { waits.push_back(w); };
  ReapOutcome out = rig.Run();
  EXPECT_EQ(out.killed, std::vector<pid_t>{547});
  // Before SIGKILL: a countdown of the grace, a tick at a time, one target alive.
  std::vector<std::chrono::nanoseconds> lefts;
  for (const ReapWait& w : waits) {
    if (!w.killed) lefts.push_back(w.left);
    EXPECT_EQ(w.alive, 1u);
  }
  ASSERT_GE(lefts.size(), 4u);
  EXPECT_EQ(lefts.front(), 1s);
  for (std::size_t i = 1; i < lefts.size(); ++i) EXPECT_LT(lefts[i], lefts[i - 1]);
  EXPECT_GT(lefts.back(), 0s);
  // After it: the wait for the exit, no countdown.
  EXPECT_TRUE(std::any_of(waits.begin(), waits.end(), [](const ReapWait& w) { return w.killed; }));
  // The countdown does not change what happens.
  EXPECT_EQ(rig.signaller.sent,
            (std::vector<std::pair<pid_t, int>>{{547, SIGTERM}, {547, SIGKILL}}));
}

TEST(Reaper, OneReportWhenTermIsObeyedAtOnce) {
  Rig rig;
  std::vector<ReapWait> waits;
  rig.options.on_wait = [&](const ReapWait& w) { waits.push_back(w); };
  EXPECT_TRUE(rig.Run().verified);
  ASSERT_EQ(waits.size(), 1u);  // the first wait saw the exit: no countdown follows
  EXPECT_EQ(waits[0].left, 10s);
  EXPECT_FALSE(waits[0].killed);
}

TEST(Reaper, RecycledPidIsNeverSignalled) {
  Rig rig;
  rig.signaller.procs[547].start_time = 99;  // someone else has pid 547 now
  ReapOutcome out = rig.Run();
  EXPECT_TRUE(rig.signaller.sent.empty());
  ASSERT_EQ(out.problems.size(), 1u);
  EXPECT_FALSE(out.verified);
}

TEST(Reaper, MemoryThatNeverComesBackTimesOutNamingTheEntry) {
  Rig rig;
  rig.signaller.on_exit = nullptr;  // someone else still holds the context
  rig.options.release_timeout = 50ms;
  ReapOutcome out = rig.Run();
  ASSERT_EQ(out.gpus.size(), 1u);
  EXPECT_FALSE(out.gpus[0].verified);
  EXPECT_EQ(out.gpus[0].still_listed, std::vector<pid_t>{526});
  EXPECT_EQ(out.gpus[0].freed, Bytes());
  EXPECT_GE(out.gpus[0].back_after, 50ms);
  EXPECT_FALSE(out.verified);
}

TEST(Reaper, UnkillableProcessIsReportedAsSurvivor) {
  Rig rig;
  rig.signaller.procs[547].ignores_term = true;
  rig.signaller.procs[547].unkillable = true;
  rig.options.release_timeout = 10ms;
  ReapOutcome out = rig.Run();
  EXPECT_EQ(out.survivors, std::vector<pid_t>{547});
  EXPECT_FALSE(out.verified);
}

TEST(Reaper, AlreadyGoneTargetIsNotAnError) {
  Rig rig;
  rig.signaller.procs[547].alive = false;
  rig.gpu.RemoveAfter(0, 526, 0);
  ReapOutcome out = rig.Run();
  EXPECT_EQ(out.gone, std::vector<pid_t>{547});
  EXPECT_TRUE(out.verified);
}

}  // namespace
}  // namespace vg
