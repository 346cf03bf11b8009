#include "core/restart_policy.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

using namespace std::chrono_literals;
using Action = RestartDecision::Action;

SteadyTime T(int seconds) { return SteadyTime(std::chrono::seconds(seconds)); }

TEST(RestartPolicy, BackoffDoublesAndCaps) {
  RestartPolicy p;
  p.backoff_min = 1s;
  p.backoff_max = 60s;
  EXPECT_EQ(BackoffFor(p, 1), 1s);
  EXPECT_EQ(BackoffFor(p, 2), 2s);
  EXPECT_EQ(BackoffFor(p, 4), 8s);
  EXPECT_EQ(BackoffFor(p, 7), 60s);
  EXPECT_EQ(BackoffFor(p, 100), 60s);
}

TEST(RestartPolicy, CrashLoopBacksOffThenGivesUp) {
  RestartPolicy p;
  p.limit_count = 3;
  p.limit_window = 10min;
  RestartState s;
  std::vector<Millis> delays;
  int t = 0;
  for (int i = 0; i < 3; ++i) {
    RecordStart(&s, p, T(t));
    if (i == 2) break;  // the third start: its crash is judged below
    RestartDecision d = DecideRestart(&s, p, {false, false, 1s}, T(t + 1));
    ASSERT_EQ(d.action, Action::kRestart) << i;
    delays.push_back(d.delay);
    t += 10;
  }
  EXPECT_EQ(delays, (std::vector<Millis>{1s, 2s}));
  // Three starts inside the window: the third crash gives up instead of restarting.
  RestartDecision d = DecideRestart(&s, p, {false, false, 1s}, T(t));
  EXPECT_EQ(d.action, Action::kGiveUp);
  EXPECT_NE(d.reason.find("start limit"), std::string::npos);
}

TEST(RestartPolicy, StartsOutsideTheWindowDoNotCount) {
  RestartPolicy p;
  p.limit_count = 2;
  p.limit_window = 60s;
  RestartState s;
  RecordStart(&s, p, T(0));
  RecordStart(&s, p, T(100));
  EXPECT_EQ(DecideRestart(&s, p, {false, false, 1s}, T(101)).action, Action::kRestart);
}

TEST(RestartPolicy, StableRunResetsTheStreak) {
  RestartPolicy p;
  p.reset_after = 5min;
  RestartState s;
  DecideRestart(&s, p, {false, false, 1s}, T(1));
  DecideRestart(&s, p, {false, false, 1s}, T(2));
  EXPECT_EQ(s.failure_streak, 2);
  RestartDecision d = DecideRestart(&s, p, {false, false, 10min}, T(1000));
  EXPECT_EQ(s.failure_streak, 1);
  EXPECT_EQ(d.delay, p.backoff_min);
}

TEST(RestartPolicy, OnFailureDoesNotRestartACleanExit) {
  RestartPolicy p;
  RestartState s;
  EXPECT_EQ(DecideRestart(&s, p, {false, true, 1s}, T(1)).action, Action::kNone);
  p.mode = RestartMode::kAlways;
  EXPECT_EQ(DecideRestart(&s, p, {false, true, 1s}, T(2)).action, Action::kRestart);
}

TEST(RestartPolicy, RequestedStopIsNeverRestarted) {
  RestartPolicy p;
  p.mode = RestartMode::kAlways;
  RestartState s;
  EXPECT_EQ(DecideRestart(&s, p, {true, false, 1s}, T(1)).action, Action::kNone);
}

TEST(RestartPolicy, NoMeansNo) {
  RestartPolicy p;
  p.mode = RestartMode::kNo;
  RestartState s;
  EXPECT_EQ(DecideRestart(&s, p, {false, false, 1s}, T(1)).action, Action::kNone);
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

using namespace std::chrono_literals;
using Action = RestartDecision::Action;

SteadyTime At(int seconds) { return SteadyTime(std::chrono::seconds(seconds)); }

TEST(OomBudget, OomRestartsOfAReadyInstanceDoNotCountAgainstTheCrashLimit) {
  RestartPolicy p;
  p.limit_count = 2;
  p.oom_limit = 4;
  p.oom_window = 1h;
  RestartState s;
  RecordStart(&s, p, At(0));
  for (int i = 0; i < 4; ++i) {
    RestartDecision d = DecideOomRestart(&s, p, true, 30s, At(10 + i * 10));
    ASSERT_EQ(d.action, Action::kRestart) << i;
    RecordStart(&s, p, At(11 + i * 10));
  }
  EXPECT_EQ(s.starts.size(), 1u);  // only the first start counts as a crash start
  // A crash now still has its whole budget (limit 2: one more restart).
  EXPECT_EQ(DecideRestart(&s, p, {false, false, 5s}, At(60)).action, Action::kRestart);
}

TEST(OomBudget, TheOomBudgetRunsOutAndTheWindowRefillsIt) {
  RestartPolicy p;
  p.oom_limit = 2;
  p.oom_window = 10min;
  p.backoff_min = 1s;
  RestartState s;
  RestartDecision a = DecideOomRestart(&s, p, true, 60s, At(0));
  RestartDecision b = DecideOomRestart(&s, p, true, 60s, At(100));
  EXPECT_EQ(a.action, Action::kRestart);
  EXPECT_EQ(a.delay, 1s);
  EXPECT_EQ(b.delay, 2s);  // grows with the OOM restarts in the window
  RestartDecision c = DecideOomRestart(&s, p, true, 60s, At(200));
  EXPECT_EQ(c.action, Action::kGiveUp);
  EXPECT_NE(c.reason.find("OOM restart limit"), std::string::npos);
  // The first OOM restart left the window: one more is allowed.
  EXPECT_EQ(DecideOomRestart(&s, p, true, 60s, At(601)).action, Action::kRestart);
}

TEST(OomBudget, AnOomBeforeReadyIsACrashAndMeetsTheStartLimit) {
  RestartPolicy p;
  p.limit_count = 2;
  p.limit_window = 10min;
  p.oom_limit = 100;
  RestartState s;
  RecordStart(&s, p, At(0));
  EXPECT_EQ(DecideOomRestart(&s, p, false, 2s, At(2)).action, Action::kRestart);
  EXPECT_FALSE(s.next_start_exempt);
  RecordStart(&s, p, At(3));
  EXPECT_EQ(DecideOomRestart(&s, p, false, 2s, At(5)).action, Action::kGiveUp);
  EXPECT_TRUE(s.oom_restarts.empty());
}

TEST(OomBudget, RestartNoMeansNoAfterAnOomToo) {
  RestartPolicy p;
  p.mode = RestartMode::kNo;
  RestartState s;
  EXPECT_EQ(DecideOomRestart(&s, p, true, 60s, At(0)).action, Action::kNone);
  EXPECT_EQ(DecideOomRestart(&s, p, false, 1s, At(1)).action, Action::kNone);
  EXPECT_FALSE(s.next_start_exempt);
}

TEST(OomBudget, AlternatingOomsAndCrashesStillEnd) {
  RestartPolicy p;
  p.limit_count = 3;
  p.limit_window = 1h;
  p.oom_limit = 3;
  p.oom_window = 1h;
  RestartState s;
  int starts = 0;
  bool given_up = false;
  for (int i = 0; i < 100 && !given_up; ++i) {
    RecordStart(&s, p, At(i * 10));
    ++starts;
    RestartDecision d = (i % 2 == 0) ? DecideOomRestart(&s, p, true, 5s, At(i * 10 + 5))
                                     : DecideRestart(&s, p, {false, false, 5s}, At(i * 10 + 5));
    given_up = d.action == Action::kGiveUp;
  }
  EXPECT_TRUE(given_up);
  EXPECT_LE(starts, p.limit_count + p.oom_limit + 1);
}

}  // namespace
}  // namespace vg
