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
// Checkpoints (copying the WAL back into the file, with its fsyncs): SQLite runs one inside the
// commit that takes the WAL past a threshold, and that write waits for it. Options move it:
// wal_autocheckpoint_pages is that threshold for this connection; with idle_checkpoint_pages set,
// IdleWorkDue() says when the WAL has grown past it and DoIdleWork() runs the checkpoint, for a
// caller that has a moment with nothing else to do (the daemon between bursts of submissions).
// Durability is the same either way: a checkpoint only copies what was committed.
//
// Ownership: owns its connection and cached prepared statements. Do not carry one across fork().
// Thread-safety: thread-safe; a mutex serialises calls on its one connection. Several
// SqliteJobStore (or SqliteStore) objects, in this process or others, may share the file: SQLite
// serialises their writes, each waiting up to busy_timeout_ms for the lock.
#pragma once

#include <atomic>
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
    // A commit that leaves the WAL at this many pages or more checkpoints first (SQLite's
    // default: 1,000 pages of 4 KiB).
    int wal_autocheckpoint_pages = 1000;
    // IdleWorkDue() once the WAL holds this many pages; 0: never (no idle work).
    int idle_checkpoint_pages = 0;
    // After a checkpoint the WAL file is cut back to this size when the log restarts; -1: never.
    std::int64_t wal_size_limit_bytes = -1;
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

  // The WAL holds idle_checkpoint_pages or more (as of this connection's last commit).
  bool IdleWorkDue() const override;
  // A PASSIVE checkpoint (it waits for no reader or writer) when IdleWorkDue(); else nothing.
  Result<void> DoIdleWork() override;
  // Checkpoints run inside a commit, because the WAL reached wal_autocheckpoint_pages.
  std::int64_t inline_checkpoints() const { return inline_checkpoints_.load(); }

 private:
  SqliteJobStore(SqliteDb db, Options options);
  // sqlite3_wal_hook: after each commit of this connection, with the WAL's size in pages.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);

  // Caller holds mu_ for all of these.
  Result<JobRecord> GetLocked(JobId id);
  Result<SubmitOutcome> SubmitLocked(JobRecord job, const std::string& params);
  Result<std::int64_t> AppendEventLocked(const EventRecord& event);
  Result<SubmitOutcome> SubmitAnnouncedLocked(JobRecord job, const std::string& params,
                                              const JobAnnouncer& announce);
  Result<std::vector<JobRecord>> Select(std::string_view sql,
                                        const std::function<void(SqliteQuery&)>& bind,
                                        std::string_view what);
  // Runs `body` in one IMMEDIATE transaction, rolled back when it fails.
  template <class T>
  Result<T> InTransaction(std::string_view what, const std::function<Result<T>()>& body);

  std::mutex mu_;
  const Options options_;
  SqliteDb db_;                    // guarded by mu_
  std::atomic<int> wal_pages_{0};  // the WAL's size after the last commit
  std::atomic<std::int64_t> inline_checkpoints_{0};
};

}  // namespace vg
