// The one stop procedure — TERM → grace → KILL → exited → memory verified back — as a pure step
// machine, so the blocking reaper (`vramguard reap`, ops/reaper.h) and the daemon's asynchronous
// stops (daemon/lifecycle.cc) follow the same steps, the same timeouts and the same rules.
//
// The driver owns the side effects. It asks `Next` what to do given what it observes now (how
// many targets are alive, how many expected driver entries are still listed, whether the operator
// asked to hurry), does it, waits as told, observes again. Time is an argument; nothing here
// sleeps or reads a clock. Not thread-safe; one machine per stop.
//
// Steps:
//   kSignal   send `signal` to every target (once, first)
//   kWaitExit wait until every target exited or `until` (the grace's or the KILL's deadline);
//             a polling driver may observe again after `poll`
//   kKill     SIGKILL the targets still alive (once; the grace ran out, or hurry)
//   kPollGpu  list the driver's processes, then observe again after `poll` (until all expected
//             entries are gone or the release timeout)
//   kDone     `outcome()` says what happened
#pragma once

#include <chrono>
#include <cstddef>

#include "clock/clock.h"
#include "util/units.h"

namespace vg {

struct StopLimits {
  int signal = 15;                // the service's stop signal (SIGTERM by default)
  Millis grace{10000};            // from the first signal to SIGKILL
  Millis exit_timeout{5000};      // after SIGKILL (a process in D state can take a while)
  Millis release_timeout{10000};  // from the last exit until the driver lists none of it
  std::chrono::nanoseconds gpu_poll = std::chrono::milliseconds(2);
};

struct StopObservation {
  SteadyTime now{};
  std::size_t alive = 0;         // targets not yet exited
  std::size_t still_listed = 0;  // expected driver entries still listed (only read in kPollGpu)
  bool hurry = false;            // skip what is left of the grace (a second Ctrl-C)
};

enum class StopAction { kSignal, kWaitExit, kKill, kPollGpu, kDone };

struct StopStep {
  StopAction action = StopAction::kDone;
  SteadyTime until{};                // kWaitExit: the deadline of this wait
  std::chrono::nanoseconds poll{0};  // how long a polling driver waits before observing again
};

struct StopOutcome {
  bool killed = false;                     // SIGKILL was needed
  std::size_t survivors = 0;               // alive after SIGKILL and exit_timeout
  std::chrono::nanoseconds exit_time{0};   // first signal → last exit (or gave up)
  std::chrono::nanoseconds back_after{0};  // last exit → driver lists none of it (or gave up)
  bool verified = false;                   // every target exited and every expected entry vanished
};

class StopMachine {
 public:
  StopMachine(StopLimits limits, SteadyTime start);

  // What to do now, given what is observed now. After kDone it keeps answering kDone.
  StopStep Next(const StopObservation& obs);

  const StopOutcome& outcome() const { return outcome_; }
  const StopLimits& limits() const { return limits_; }

 private:
  enum class Phase { kStart, kGrace, kKilled, kVerify, kDone };
  StopStep Verify(const StopObservation& obs);
  StopStep EnterVerify(const StopObservation& obs);

  StopLimits limits_;
  SteadyTime start_;
  Phase phase_ = Phase::kStart;
  SteadyTime deadline_{};
  SteadyTime exited_at_{};
  StopOutcome outcome_;
};

// How often a polling driver looks for exits: 1 ms for the first 100 ms (most services exit
// quickly and every millisecond shows in `restart`), 5 ms after.
std::chrono::nanoseconds ExitPollInterval(std::chrono::nanoseconds since_signal);

}  // namespace vg
