// MemoryJobStore: the JobStore fake for unit tests. Same semantics as SqliteJobStore (pinned by
// the shared JobStoreBehaviour suite), held in memory, plus a switch a test flips to reach error
// paths.
//
// fail_next_write: when set, the next write (Submit, Transition, SetResult, RecordObservation,
// RecoverAfterCrash, Prune) returns that Error, changes nothing, and clears the switch. Reads
// never fail. key_lookups() counts FindByKey calls, batches() SubmitBatch calls (group commits).
// idle_work_due: what IdleWorkDue() answers; DoIdleWork clears it and counts a run in
// idle_work_runs(). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/job_store.h"

namespace vg {

class MemoryJobStore final : public JobStore {
 public:
  std::optional<Error> fail_next_write;
  int writes() const { return writes_; }  // writes that succeeded
  int key_lookups() const { return key_lookups_; }
  int batches() const { return batches_; }
  bool idle_work_due = false;
  int idle_work_runs() const { return idle_work_runs_; }

  Result<SubmitOutcome> Submit(JobRecord job) override;
  std::vector<Result<SubmitOutcome>> SubmitBatch(std::vector<JobSubmission> jobs) override {
    ++batches_;
    return JobStore::SubmitBatch(std::move(jobs));
  }
  Result<JobRecord> Get(JobId id) override;
  Result<std::optional<JobRecord>> FindByKey(const std::string& service,
                                             const std::string& key) override;
  Result<std::vector<JobRecord>> List(const JobFilter& filter) override;
  Result<std::vector<JobRecord>> Queued(const std::string& service) override;

  Result<TransitionOutcome> Transition(JobId id, const std::vector<JobState>& from, JobState to,
                                       const JobChange& change) override;
  Result<void> SetResult(JobId id, const nlohmann::json& result) override;
  Result<void> RecordObservation(JobId id, Bytes peak, PeakObservation kind) override;
  Result<std::vector<JobRecord>> Observed(const std::string& service, int limit) override;

  Result<std::vector<RecoveredJob>> RecoverAfterCrash(std::int64_t now_unix_ms) override;
  Result<JobCounts> Counts(const std::string& service) override;
  Result<std::int64_t> Prune(std::int64_t now_unix_ms, const JobRetention& retention) override;
  bool IdleWorkDue() const override { return idle_work_due; }
  Result<void> DoIdleWork() override;

 private:
  // The armed failure, once; success otherwise.
  Result<void> TakeFailure();

  std::map<JobId, JobRecord> jobs_;                            // by id: submission order
  std::map<std::pair<std::string, std::string>, JobId> keys_;  // (service, key) → id
  JobId next_id_ = 1;
  int writes_ = 0;
  int key_lookups_ = 0;
  int batches_ = 0;
  int idle_work_runs_ = 0;
};

}  // namespace vg
