// The checks every JobStore implementation applies the same way (job_store.h states them): the
// size caps, what Submit accepts, and which Transitions can ever apply. Shared so the backends
// cannot drift apart; used only by implementations, not by callers of JobStore.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/job_store.h"
#include "util/error.h"

namespace vg::job_rules {

// Compact JSON, invalid UTF-8 replaced; kInvalidArgument when longer than `cap` bytes.
Result<std::string> DumpCapped(const nlohmann::json& value, std::size_t cap, std::string_view what);

// A new job: service named, state queued or refused, payload and params within their caps.
// Returns the params as compact JSON.
Result<std::string> CheckSubmit(const JobRecord& job);

// `from` non-empty and free of terminal states; `to` not refused.
Result<void> CheckTransition(const std::vector<JobState>& from, JobState to);

bool Contains(const std::vector<JobState>& states, JobState state);

// The failure for SetResult on a terminal job.
Error TerminalError(JobId id, JobState state);
Error NotFoundError(JobId id);

}  // namespace vg::job_rules
