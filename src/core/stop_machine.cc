#include "core/stop_machine.h"

#include <algorithm>

namespace vg {

using namespace std::chrono_literals;

std::chrono::nanoseconds ExitPollInterval(std::chrono::nanoseconds since_signal) {
  return since_signal < 100ms ? std::chrono::nanoseconds(1ms) : std::chrono::nanoseconds(5ms);
}

StopMachine::StopMachine(StopLimits limits, SteadyTime start) : limits_(limits), start_(start) {}

StopStep StopMachine::EnterVerify(const StopObservation& obs) {
  outcome_.exit_time = obs.now - start_;
  outcome_.survivors = obs.alive;
  exited_at_ = obs.now;
  phase_ = Phase::kVerify;
  // The first look at the driver happens at once: no fixed sleep after the exits.
  return StopStep{StopAction::kPollGpu, {}, 0ns};
}

StopStep StopMachine::Verify(const StopObservation& obs) {
  outcome_.back_after = obs.now - exited_at_;
  if (obs.still_listed == 0 || obs.now >= exited_at_ + limits_.release_timeout) {
    outcome_.verified = obs.still_listed == 0 && outcome_.survivors == 0;
    phase_ = Phase::kDone;
    return StopStep{StopAction::kDone, {}, 0ns};
  }
  return StopStep{StopAction::kPollGpu, {}, limits_.gpu_poll};
}

StopStep StopMachine::Next(const StopObservation& obs) {
  switch (phase_) {
    case Phase::kStart:
      phase_ = Phase::kGrace;
      deadline_ = start_ + limits_.grace;
      return StopStep{StopAction::kSignal, {}, 0ns};
    case Phase::kGrace:
      if (obs.alive == 0) return EnterVerify(obs);
      if (obs.hurry || obs.now >= deadline_) {
        phase_ = Phase::kKilled;
        outcome_.killed = true;
        deadline_ = obs.now + limits_.exit_timeout;
        return StopStep{StopAction::kKill, {}, 0ns};
      }
      return StopStep{StopAction::kWaitExit, deadline_,
                      std::min<std::chrono::nanoseconds>(ExitPollInterval(obs.now - start_),
                                                         deadline_ - obs.now)};
    case Phase::kKilled:
      if (obs.alive == 0 || obs.now >= deadline_) return EnterVerify(obs);
      return StopStep{StopAction::kWaitExit, deadline_,
                      std::min<std::chrono::nanoseconds>(ExitPollInterval(obs.now - start_),
                                                         deadline_ - obs.now)};
    case Phase::kVerify:
      return Verify(obs);
    case Phase::kDone:
      break;
  }
  return StopStep{StopAction::kDone, {}, 0ns};
}

}  // namespace vg
