#include "core/stop_machine.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

using namespace std::chrono_literals;

const SteadyTime kT0{std::chrono::seconds(1000)};

StopLimits Limits() {
  StopLimits l;
  l.grace = Millis(100);
  l.exit_timeout = Millis(50);
  l.release_timeout = Millis(200);
  return l;
}

StopObservation At(std::chrono::nanoseconds t, std::size_t alive, std::size_t listed = 0,
                   bool hurry = false) {
  return StopObservation{kT0 + t, alive, listed, hurry};
}

TEST(StopMachine, SignalsFirstThenWaitsForTheGrace) {
  StopMachine m(Limits(), kT0);
  EXPECT_EQ(m.Next(At(0ms, 2)).action, StopAction::kSignal);
  StopStep s = m.Next(At(0ms, 2));
  EXPECT_EQ(s.action, StopAction::kWaitExit);
  EXPECT_EQ(s.until, kT0 + 100ms);
  EXPECT_EQ(s.poll, 1ms);
}

TEST(StopMachine, QuickExitGoesStraightToTheDriverWithoutSleeping) {
  StopMachine m(Limits(), kT0);
  m.Next(At(0ms, 1));
  StopStep s = m.Next(At(3ms, 0, 1));
  EXPECT_EQ(s.action, StopAction::kPollGpu);
  EXPECT_EQ(s.poll, 0ns);
  EXPECT_EQ(m.Next(At(5ms, 0, 1)).action, StopAction::kPollGpu);
  EXPECT_EQ(m.Next(At(9ms, 0, 0)).action, StopAction::kDone);
  EXPECT_FALSE(m.outcome().killed);
  EXPECT_TRUE(m.outcome().verified);
  EXPECT_EQ(m.outcome().exit_time, 3ms);
  EXPECT_EQ(m.outcome().back_after, 6ms);
}

TEST(StopMachine, KillsWhenTheGraceRunsOut) {
  StopMachine m(Limits(), kT0);
  m.Next(At(0ms, 1));
  EXPECT_EQ(m.Next(At(99ms, 1)).action, StopAction::kWaitExit);
  EXPECT_EQ(m.Next(At(100ms, 1)).action, StopAction::kKill);
  StopStep s = m.Next(At(101ms, 1));
  EXPECT_EQ(s.action, StopAction::kWaitExit);
  EXPECT_EQ(s.until, kT0 + 150ms);
  EXPECT_EQ(m.Next(At(102ms, 0)).action, StopAction::kPollGpu);
  EXPECT_EQ(m.Next(At(103ms, 0)).action, StopAction::kDone);
  EXPECT_TRUE(m.outcome().killed);
  EXPECT_TRUE(m.outcome().verified);
}

TEST(StopMachine, HurrySkipsTheRestOfTheGrace) {
  StopMachine m(Limits(), kT0);
  m.Next(At(0ms, 1));
  EXPECT_EQ(m.Next(At(10ms, 1)).action, StopAction::kWaitExit);
  EXPECT_EQ(m.Next(At(11ms, 1, 0, /*hurry=*/true)).action, StopAction::kKill);
}

TEST(StopMachine, SurvivorsOfKillAreNotVerified) {
  StopMachine m(Limits(), kT0);
  m.Next(At(0ms, 1));
  m.Next(At(100ms, 1));                                          // kill
  EXPECT_EQ(m.Next(At(150ms, 1)).action, StopAction::kPollGpu);  // gave up waiting
  EXPECT_EQ(m.Next(At(151ms, 1, 0)).action, StopAction::kDone);
  EXPECT_EQ(m.outcome().survivors, 1u);
  EXPECT_FALSE(m.outcome().verified);
}

TEST(StopMachine, MemoryThatNeverComesBackEndsAtTheReleaseTimeout) {
  StopMachine m(Limits(), kT0);
  m.Next(At(0ms, 1));
  m.Next(At(1ms, 0, 1));
  EXPECT_EQ(m.Next(At(100ms, 0, 1)).action, StopAction::kPollGpu);
  EXPECT_EQ(m.Next(At(201ms, 0, 1)).action, StopAction::kDone);
  EXPECT_FALSE(m.outcome().verified);
  EXPECT_EQ(m.outcome().back_after, 200ms);
  EXPECT_EQ(m.Next(At(300ms, 0, 0)).action, StopAction::kDone);  // stays done
}

TEST(StopMachine, PollsFasterAtFirst) {
  EXPECT_EQ(ExitPollInterval(10ms), 1ms);
  EXPECT_EQ(ExitPollInterval(100ms), 5ms);
}

TEST(StopMachine, WaitNeverOvershootsTheDeadline) {
  StopMachine m(Limits(), kT0);
  m.Next(At(0ms, 1));
  StopStep s = m.Next(At(98ms + 500us, 1));
  EXPECT_LE(kT0 + 98ms + 500us + s.poll, s.until);
}

}  // namespace
}  // namespace vg
