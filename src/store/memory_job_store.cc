#include "store/memory_job_store.h"

#include <algorithm>

#include "store/job_store_rules.h"

namespace vg {
namespace {

JobRecord Summary(const JobRecord& job) {
  JobRecord out = job;
  out.payload.clear();
  out.result = nullptr;
  return out;
}

// When a terminal job counts as finished, for age-based pruning.
std::int64_t FinishedAt(const JobRecord& job) {
  return job.finished_unix_ms.value_or(job.submitted_unix_ms);
}

}  // namespace

Result<void> MemoryJobStore::TakeFailure() {
  if (!fail_next_write) return {};
  Error e = std::move(*fail_next_write);
  fail_next_write.reset();
  return std::unexpected(std::move(e));
}

Result<SubmitOutcome> MemoryJobStore::Submit(JobRecord job) {
  if (auto ok = TakeFailure(); !ok) return std::unexpected(ok.error());
  auto params = job_rules::CheckSubmit(job);
  if (!params) return std::unexpected(params.error());
  if (job.idempotency_key) {
    auto it = keys_.find({job.service, *job.idempotency_key});
    if (it != keys_.end()) return SubmitOutcome{.job = jobs_.at(it->second), .duplicate = true};
  }
  // What SQLite would give back: JSON round-tripped, counters the store owns reset.
  job.params = nlohmann::json::parse(*params);
  job.id = next_id_++;
  job.payload_bytes = job.payload.size();
  job.attempts = 0;
  job.result = nullptr;
  job.observed_peak_bytes.reset();
  job.observation_kind.reset();
  if (job.idempotency_key) keys_[{job.service, *job.idempotency_key}] = job.id;
  jobs_[job.id] = job;
  ++writes_;
  return SubmitOutcome{.job = std::move(job), .duplicate = false};
}

Result<JobRecord> MemoryJobStore::Get(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::unexpected(job_rules::NotFoundError(id));
  return it->second;
}

Result<std::optional<JobRecord>> MemoryJobStore::FindByKey(const std::string& service,
                                                           const std::string& key) {
  ++key_lookups_;
  auto it = keys_.find({service, key});
  if (it == keys_.end()) return std::optional<JobRecord>();
  return std::optional<JobRecord>(jobs_.at(it->second));
}

Result<std::vector<JobRecord>> MemoryJobStore::List(const JobFilter& filter) {
  if (filter.limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "job list limit must be at least 1, not " + std::to_string(filter.limit));
  }
  auto matches = [&](const JobRecord& job) {
    if (job.id <= filter.after_id) return false;
    if (!filter.service.empty() && job.service != filter.service) return false;
    return filter.states.empty() || job_rules::Contains(filter.states, job.state);
  };
  std::vector<JobRecord> out;
  auto take = [&](const JobRecord& job) {
    if (matches(job)) out.push_back(Summary(job));
    return static_cast<int>(out.size()) < filter.limit;
  };
  if (filter.newest_first) {
    for (auto it = jobs_.rbegin(); it != jobs_.rend() && take(it->second); ++it) {
    }
  } else {
    for (auto it = jobs_.begin(); it != jobs_.end() && take(it->second); ++it) {
    }
  }
  return out;
}

Result<std::vector<JobRecord>> MemoryJobStore::Queued(const std::string& service) {
  std::vector<JobRecord> out;
  for (const auto& [id, job] : jobs_) {
    if (job.state != JobState::kQueued) continue;
    if (!service.empty() && job.service != service) continue;
    out.push_back(Summary(job));
  }
  std::stable_sort(out.begin(), out.end(), [](const JobRecord& a, const JobRecord& b) {
    return a.priority > b.priority;  // ids already ascending within a priority
  });
  return out;
}

Result<TransitionOutcome> MemoryJobStore::Transition(JobId id, const std::vector<JobState>& from,
                                                     JobState to, const JobChange& change) {
  if (auto ok = TakeFailure(); !ok) return std::unexpected(ok.error());
  if (auto ok = job_rules::CheckTransition(from, to); !ok) return std::unexpected(ok.error());
  std::optional<nlohmann::json> result;
  if (change.result) {
    auto text = job_rules::DumpCapped(*change.result, kMaxJobResultBytes, "result");
    if (!text) return std::unexpected(text.error());
    result = nlohmann::json::parse(*text);
  }
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::unexpected(job_rules::NotFoundError(id));
  JobRecord& job = it->second;
  if (!job_rules::Contains(from, job.state)) return TransitionOutcome{.applied = false, .job = job};
  if (to == JobState::kStarting) ++job.attempts;
  job.state = to;
  if (change.reason) job.reason = *change.reason;
  if (change.started_unix_ms) job.started_unix_ms = change.started_unix_ms;
  if (change.finished_unix_ms) job.finished_unix_ms = change.finished_unix_ms;
  if (change.gpu) job.gpu = change.gpu;
  if (change.estimate_bytes) job.estimate_bytes = *change.estimate_bytes;
  if (result) job.result = std::move(*result);
  ++writes_;
  return TransitionOutcome{.applied = true, .job = job};
}

Result<void> MemoryJobStore::SetResult(JobId id, const nlohmann::json& result) {
  if (auto ok = TakeFailure(); !ok) return ok;
  auto text = job_rules::DumpCapped(result, kMaxJobResultBytes, "result");
  if (!text) return std::unexpected(text.error());
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::unexpected(job_rules::NotFoundError(id));
  if (IsTerminal(it->second.state)) {
    return std::unexpected(job_rules::TerminalError(id, it->second.state));
  }
  it->second.result = nlohmann::json::parse(*text);
  ++writes_;
  return {};
}

Result<void> MemoryJobStore::RecordObservation(JobId id, Bytes peak, PeakObservation kind) {
  if (auto ok = TakeFailure(); !ok) return ok;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::unexpected(job_rules::NotFoundError(id));
  it->second.observed_peak_bytes = peak;
  it->second.observation_kind = kind;
  ++writes_;
  return {};
}

Result<std::vector<JobRecord>> MemoryJobStore::Observed(const std::string& service, int limit) {
  if (auto ok = TakeFailure(); !ok) return std::unexpected(ok.error());
  if (limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "observation limit must be at least 1, not " + std::to_string(limit));
  }
  std::vector<JobRecord> out;
  for (auto it = jobs_.rbegin(); it != jobs_.rend() && std::ssize(out) < limit; ++it) {
    if (it->second.service == service && it->second.observed_peak_bytes)
      out.push_back(Summary(it->second));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<RecoveredJob>> MemoryJobStore::RecoverAfterCrash(std::int64_t now_unix_ms) {
  if (auto ok = TakeFailure(); !ok) return std::unexpected(ok.error());
  std::vector<RecoveredJob> out;
  for (auto& [id, job] : jobs_) {
    if (job.state != JobState::kStarting && job.state != JobState::kRunning &&
        job.state != JobState::kInterrupted) {
      continue;
    }
    const JobState was = job.state;
    if (job.idempotent) {
      job.state = JobState::kQueued;
      job.reason = std::string(kReasonRequeued);
      job.started_unix_ms.reset();
      job.gpu.reset();
    } else {
      job.state = JobState::kFailed;
      job.reason = std::string(kReasonNotIdempotent);
      job.finished_unix_ms = now_unix_ms;
    }
    out.push_back(RecoveredJob{.was = was, .job = job});
  }
  ++writes_;
  return out;
}

Result<JobCounts> MemoryJobStore::Counts(const std::string& service) {
  JobCounts counts;
  for (const auto& [id, job] : jobs_) {
    if (service.empty() || job.service == service) ++counts[job.state];
  }
  return counts;
}

Result<std::int64_t> MemoryJobStore::Prune(std::int64_t now_unix_ms,
                                           const JobRetention& retention) {
  if (auto ok = TakeFailure(); !ok) return std::unexpected(ok.error());
  std::int64_t terminal = 0;
  for (const auto& [id, job] : jobs_) terminal += IsTerminal(job.state) ? 1 : 0;
  std::int64_t removed = 0;
  for (auto it = jobs_.begin(); it != jobs_.end();) {  // oldest id first
    const JobRecord& job = it->second;
    const bool too_many = terminal - removed > retention.max_terminal_jobs;
    const bool too_old = FinishedAt(job) < now_unix_ms - retention.max_age_ms;
    if (IsTerminal(job.state) && (too_many || too_old)) {
      if (job.idempotency_key) keys_.erase({job.service, *job.idempotency_key});
      it = jobs_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  ++writes_;
  return removed;
}

Result<void> MemoryJobStore::DoIdleWork() {
  if (!idle_work_due) return {};
  idle_work_due = false;
  ++idle_work_runs_;
  return {};
}

}  // namespace vg
