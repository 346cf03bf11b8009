#include "store/job_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "store/job_store_rules.h"

namespace vg {

bool IsTerminal(JobState state) {
  switch (state) {
    case JobState::kDone:
    case JobState::kFailed:
    case JobState::kCancelled:
    case JobState::kRefused:
      return true;
    case JobState::kQueued:
    case JobState::kStarting:
    case JobState::kRunning:
    case JobState::kInterrupted:
      return false;
  }
  return false;
}

const char* JobOriginName(JobOrigin o) { return o == JobOrigin::kDoor ? "door" : "api"; }

JobOrigin ParseJobOrigin(std::string_view text) {
  return text == "door" ? JobOrigin::kDoor : JobOrigin::kApi;
}

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kStarting:
      return "starting";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kRefused:
      return "refused";
    case JobState::kInterrupted:
      return "interrupted";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : kAllJobStates) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view PeakObservationName(PeakObservation kind) {
  switch (kind) {
    case PeakObservation::kExact:
      return "exact";
    case PeakObservation::kAtMost:
      return "at-most";
    case PeakObservation::kAtLeast:
      return "at-least";
  }
  return "exact";
}

std::optional<PeakObservation> ParsePeakObservation(std::string_view name) {
  if (name == "exact") return PeakObservation::kExact;
  if (name == "at-most") return PeakObservation::kAtMost;
  if (name == "at-least") return PeakObservation::kAtLeast;
  return std::nullopt;
}

namespace job_rules {

Result<std::string> DumpCapped(const nlohmann::json& value, std::size_t cap,
                               std::string_view what) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > cap) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("job {} is {} bytes, over the limit of {} bytes", what, text.size(), cap),
        fmt::format("send at most {} bytes of {}", cap, what));
  }
  return text;
}

Result<std::string> CheckSubmit(const JobRecord& job) {
  if (job.service.empty()) return Fail(ErrorCode::kInvalidArgument, "job has no service");
  if (job.state != JobState::kQueued && job.state != JobState::kRefused) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("a new job must be queued or refused, not {}", JobStateName(job.state)));
  }
  if (job.payload.size() > kMaxJobPayloadBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("job payload is {} bytes, over the limit of {} bytes",
                            job.payload.size(), kMaxJobPayloadBytes),
                "send a smaller payload, or pass a path or URL in the params instead");
  }
  if (job.idempotency_key && job.idempotency_key->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "job idempotency key is empty",
                "leave it out, or send a non-empty key");
  }
  return DumpCapped(job.params, kMaxJobParamsBytes, "params");
}

Result<void> CheckTransition(const std::vector<JobState>& from, JobState to) {
  if (from.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "job transition names no state to move from");
  }
  for (JobState s : from) {
    if (IsTerminal(s)) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("a job in terminal state {} never changes state again", JobStateName(s)));
    }
  }
  if (to == JobState::kRefused) {
    return Fail(ErrorCode::kInvalidArgument, "a job is refused only at submit");
  }
  return {};
}

bool Contains(const std::vector<JobState>& states, JobState state) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

Error TerminalError(JobId id, JobState state) {
  return Error{ErrorCode::kRefused,
               fmt::format("job {} is {}: a finished job does not change", id, JobStateName(state)),
               ""};
}

Error NotFoundError(JobId id) {
  return Error{ErrorCode::kNotFound, fmt::format("no job {}", id),
               "it may have been pruned: finished jobs are kept for a limited time"};
}

}  // namespace job_rules
}  // namespace vg
