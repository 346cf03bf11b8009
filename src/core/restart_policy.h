// Restart policy: after a service instance ends, whether and when to start it again.
//
// Pure. Exponential backoff from `backoff_min` doubling up to `backoff_max`; the failure streak
// resets when an instance ran at least `reset_after`. A start limit stops crash loops: when
// `limit_count` starts happened within `limit_window`, the service goes to `failed` and stays
// there until an operator starts it. Times are steady-clock points passed in by the caller.
#pragma once

#include <chrono>
#include <deque>
#include <string>

#include "clock/clock.h"
#include "util/units.h"

namespace vg {

enum class RestartMode { kNo, kOnFailure, kAlways };

struct RestartPolicy {
  RestartMode mode = RestartMode::kOnFailure;
  Millis backoff_min{1000};
  Millis backoff_max{60000};
  Millis reset_after{300000};
  int limit_count = 5;
  Millis limit_window{600000};
};

// How an instance ended.
struct InstanceEnd {
  bool requested = false;  // stopped by an operator or by the daemon: never restarted
  bool clean = false;      // exit status 0
  Millis ran{0};           // from spawn to exit
};

// What the policy remembers between instances of one service.
struct RestartState {
  int failure_streak = 0;         // consecutive unclean ends that did not run reset_after
  std::deque<SteadyTime> starts;  // start times inside the current limit window
};

struct RestartDecision {
  enum class Action { kNone, kRestart, kGiveUp } action = Action::kNone;
  Millis delay{0};     // kRestart: wait this long first
  std::string reason;  // one line for the event log
};

// Records a start at `now` (call on every spawn).
void RecordStart(RestartState* state, const RestartPolicy& policy, SteadyTime now);

// Decides what to do after an instance ended at `now`, updating the failure streak.
RestartDecision DecideRestart(RestartState* state, const RestartPolicy& policy,
                              const InstanceEnd& end, SteadyTime now);

// The backoff for a given streak (1 → backoff_min, 2 → 2×min, …, capped at backoff_max).
Millis BackoffFor(const RestartPolicy& policy, int streak);

}  // namespace vg
