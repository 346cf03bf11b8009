#include "core/restart_policy.h"

#include <algorithm>

namespace vg {
namespace {

void Prune(RestartState* state, const RestartPolicy& policy, SteadyTime now) {
  while (!state->starts.empty() && now - state->starts.front() >= policy.limit_window) {
    state->starts.pop_front();
  }
}

}  // namespace

void RecordStart(RestartState* state, const RestartPolicy& policy, SteadyTime now) {
  Prune(state, policy, now);
  if (state->next_start_exempt) {
    state->next_start_exempt = false;
    return;
  }
  state->starts.push_back(now);
}

Millis BackoffFor(const RestartPolicy& policy, int streak) {
  if (streak <= 0) return Millis(0);
  Millis delay = policy.backoff_min;
  for (int i = 1; i < streak && delay < policy.backoff_max; ++i) delay *= 2;
  return std::min(delay, policy.backoff_max);
}

RestartDecision DecideRestart(RestartState* state, const RestartPolicy& policy,
                              const InstanceEnd& end, SteadyTime now) {
  RestartDecision d;
  if (end.ran >= policy.reset_after) state->failure_streak = 0;
  if (!end.clean) ++state->failure_streak;
  if (end.requested) {
    d.reason = "stopped on request";
    return d;
  }
  const bool wanted =
      policy.mode == RestartMode::kAlways || (policy.mode == RestartMode::kOnFailure && !end.clean);
  if (!wanted) {
    d.reason = policy.mode == RestartMode::kNo ? "restart = \"no\"" : "exited cleanly";
    return d;
  }
  Prune(state, policy, now);
  if (policy.limit_count > 0 && static_cast<int>(state->starts.size()) >= policy.limit_count) {
    d.action = RestartDecision::Action::kGiveUp;
    d.reason = std::to_string(state->starts.size()) + " starts within " +
               FormatSeconds(policy.limit_window) + ": start limit reached";
    return d;
  }
  d.action = RestartDecision::Action::kRestart;
  d.delay = end.clean ? policy.backoff_min : BackoffFor(policy, state->failure_streak);
  d.reason = "restarting in " + FormatSeconds(d.delay) +
             (state->failure_streak > 1
                  ? " (failure " + std::to_string(state->failure_streak) + " in a row)"
                  : "");
  return d;
}

RestartDecision DecideOomRestart(RestartState* state, const RestartPolicy& policy, bool was_ready,
                                 Millis ran, SteadyTime now) {
  if (!was_ready) {
    RestartDecision d = DecideRestart(state, policy, InstanceEnd{false, false, ran}, now);
    if (d.action == RestartDecision::Action::kRestart)
      d.reason += "; an OOM before ready counts as a crash";
    return d;
  }
  RestartDecision d;
  if (policy.mode == RestartMode::kNo) {
    d.reason = "restart = \"no\"";
    return d;
  }
  while (!state->oom_restarts.empty() && now - state->oom_restarts.front() >= policy.oom_window) {
    state->oom_restarts.pop_front();
  }
  if (policy.oom_limit <= 0 || static_cast<int>(state->oom_restarts.size()) >= policy.oom_limit) {
    d.action = RestartDecision::Action::kGiveUp;
    d.reason = std::to_string(state->oom_restarts.size()) + " OOM restarts within " +
               FormatSeconds(policy.oom_window) + ": OOM restart limit reached";
    return d;
  }
  state->oom_restarts.push_back(now);
  state->next_start_exempt = true;
  d.action = RestartDecision::Action::kRestart;
  d.delay = BackoffFor(policy, static_cast<int>(state->oom_restarts.size()));
  d.reason = "restarting after an OOM in " + FormatSeconds(d.delay) + " (OOM restart " +
             std::to_string(state->oom_restarts.size()) + " of " +
             std::to_string(policy.oom_limit) + " within " + FormatSeconds(policy.oom_window) + ")";
  return d;
}

}  // namespace vg
