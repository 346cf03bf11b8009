// Restart policy: after a service instance ends, whether and when to start it again.
//
// Pure. Exponential backoff from `backoff_min` doubling up to `backoff_max`; the failure streak
// resets when an instance ran at least `reset_after`. A start limit stops crash loops: when
// `limit_count` starts happened within `limit_window`, the service goes to `failed` and stays
// there until an operator starts it. Times are steady-clock points passed in by the caller.
//
// OOM restarts (docs/daemon.md, "The OOM budget"): an instance that became ready and then ran
// out of GPU memory (a job asked for too much) is restarted under its own budget, `oom_limit`
// starts within `oom_window`, and that start is not counted against the crash start limit. An
// OOM before the instance was ready (the model itself does not fit) is a crash like any other,
// so it meets the crash start limit. Both budgets are finite, so no mix of OOMs and crashes can
// restart a service forever: within any window of the longer length there are at most
// limit_count + oom_limit starts.
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
  int oom_limit = 5;  // OOM restarts of a ready instance within oom_window
  Millis oom_window{3600000};
};

// How an instance ended.
struct InstanceEnd {
  bool requested = false;  // stopped by an operator or by the daemon: never restarted
  bool clean = false;      // exit status 0
  Millis ran{0};           // from spawn to exit
};

// What the policy remembers between instances of one service.
struct RestartState {
  int failure_streak = 0;               // consecutive unclean ends that did not run reset_after
  std::deque<SteadyTime> starts;        // start times inside the current limit window
  std::deque<SteadyTime> oom_restarts;  // OOM restarts inside the current oom window
  bool next_start_exempt = false;       // the next start is an OOM restart: not in `starts`
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

// Decides what to do after an instance ran out of GPU memory at `now` and was stopped for it.
// `was_ready`: the instance had become ready (else the OOM counts as a crash: DecideRestart with
// an unclean end). A restart under the OOM budget marks the next RecordStart as exempt from the
// crash start limit; the delay grows with the OOM restarts in the window (backoff_min doubling).
// restart = "no" (RestartMode::kNo) is honoured: no restart.
RestartDecision DecideOomRestart(RestartState* state, const RestartPolicy& policy, bool was_ready,
                                 Millis ran, SteadyTime now);

// The backoff for a given streak (1 → backoff_min, 2 → 2×min, …, capped at backoff_max).
Millis BackoffFor(const RestartPolicy& policy, int streak);

}  // namespace vg
