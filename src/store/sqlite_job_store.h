// SqliteJobStore: the production JobStore, in the daemon's state database (the same file as
// SqliteStore; the tables `jobs` come in through the schema migrations, docs/state.md).
//
// Open goes through SqliteStore::Open once — the same directory and file creation (0700/0600),
// WAL switch, refusal of damaged or newer files, and schema migration — then keeps a connection
// of its own to that file: busy timeout, foreign keys, and the synchronous level chosen below
// (a per-connection setting). Each write is one SQLite transaction:
//   Synchronous::kNormal (default, as SqliteStore): a returned write is in the WAL in the OS's
//     page cache, which survives the daemon's SIGKILL or crash; a power cut or kernel crash may
//     lose the last commits (never the file).
//   Synchronous::kFull: the WAL is fsynced at every commit, so a returned write survives a power
//     cut too; each write then costs a disk flush.
//
// Ownership: owns its connection and cached prepared statements. Do not carry one across fork().
// Thread-safety: thread-safe; a mutex serialises calls on its one connection. Several
// SqliteJobStore (or SqliteStore) objects, in this process or others, may share the file: SQLite
// serialises their writes, each waiting up to busy_timeout_ms for the lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/job_store.h"
#include "store/sqlite_db.h"

namespace vg {

class SqliteJobStore final : public JobStore {
 public:
  enum class Synchronous { kNormal, kFull };
  struct Options {
    int busy_timeout_ms = 5000;
    Synchronous synchronous = Synchronous::kNormal;
  };

  static Result<std::unique_ptr<SqliteJobStore>> Open(const std::string& path);
  static Result<std::unique_ptr<SqliteJobStore>> Open(const std::string& path, Options options);

  ~SqliteJobStore() override;

  const std::string& path() const { return db_.path(); }

  Result<SubmitOutcome> Submit(JobRecord job) override;
  // The job row and its event in one transaction on this connection (one commit, and the page
  // cache is not invalidated by a second connection writing in between).
  Result<SubmitOutcome> SubmitAndAnnounce(JobRecord job, const JobAnnouncer& announce) override;
  std::vector<Result<SubmitOutcome>> SubmitBatch(std::vector<JobSubmission> jobs) override;
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

 private:
  explicit SqliteJobStore(SqliteDb db);

  // Caller holds mu_ for all of these.
  Result<JobRecord> GetLocked(JobId id);
  Result<SubmitOutcome> SubmitLocked(JobRecord job, std::string params);
  Result<std::int64_t> AppendEventLocked(const EventRecord& event);
  Result<SubmitOutcome> SubmitAnnouncedLocked(JobRecord job, std::string params,
                                              const JobAnnouncer& announce);
  Result<std::vector<JobRecord>> Select(std::string_view sql,
                                        const std::function<void(SqliteQuery&)>& bind,
                                        std::string_view what);
  // Runs `body` in one IMMEDIATE transaction, rolled back when it fails.
  template <class T>
  Result<T> InTransaction(std::string_view what, const std::function<Result<T>()>& body);

  std::mutex mu_;
  SqliteDb db_;  // guarded by mu_
};

}  // namespace vg
