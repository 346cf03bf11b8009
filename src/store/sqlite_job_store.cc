#include "store/sqlite_job_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "store/job_store_rules.h"
#include "store/sqlite_store.h"

namespace vg {

namespace {

// Column lists: the whole record, and the summary that leaves the large columns unread.
constexpr std::string_view kColumns =
    "id, service, params, priority, idempotency_key, idempotent, state, reason, "
    "submitted_unix_ms, started_unix_ms, finished_unix_ms, gpu, estimate_bytes, "
    "observed_peak_bytes, observation_kind, attempts, payload_bytes, origin";
constexpr std::string_view kWhole = ", result, payload FROM jobs ";
constexpr std::string_view kSummary = ", NULL, NULL FROM jobs ";

std::string SelectWhole(std::string_view rest) {
  return fmt::format("SELECT {}{}{}", kColumns, kWhole, rest);
}
std::string SelectSummary(std::string_view rest) {
  return fmt::format("SELECT {}{}{}", kColumns, kSummary, rest);
}

nlohmann::json ParseStored(const std::string& text) {
  // The store wrote it; a value that no longer parses reads as null.
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  return value.is_discarded() ? nlohmann::json() : value;
}

// States as one text the SQL matches with instr(): "|queued|starting|".
std::string StateSet(const std::vector<JobState>& states) {
  std::string out = "|";
  for (JobState s : states) {
    out += JobStateName(s);
    out += '|';
  }
  return out;
}

constexpr std::string_view kTerminalSql = "state IN ('done', 'failed', 'cancelled', 'refused')";
constexpr std::string_view kUnfinishedSql = "state IN ('starting', 'running', 'interrupted')";

}  // namespace

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path) {
  return Open(path, Options{});
}

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path,
                                                             Options options) {
  // Creation, WAL, refusals and migration: one home, SqliteStore::Open.
  {
    auto state =
        SqliteStore::Open(path, SqliteStore::Options{.busy_timeout_ms = options.busy_timeout_ms});
    if (!state) return std::unexpected(state.error());
  }
  if (options.wal_autocheckpoint_pages < 1 || options.idle_checkpoint_pages < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "wal_autocheckpoint_pages must be at least 1, idle_checkpoint_pages at least 0");
  }
  auto db = SqliteDb::Open(path, options.busy_timeout_ms);
  if (!db) return std::unexpected(db.error());
  auto store = std::unique_ptr<SqliteJobStore>(new SqliteJobStore(std::move(*db), options));
  std::lock_guard lock(store->mu_);
  const char* sync = options.synchronous == Synchronous::kFull ? "PRAGMA synchronous=FULL"
                                                               : "PRAGMA synchronous=NORMAL";
  const std::string size_limit =
      fmt::format("PRAGMA journal_size_limit={}", options.wal_size_limit_bytes);
  for (const char* pragma : {sync, "PRAGMA foreign_keys=ON", size_limit.c_str()}) {
    if (auto ok = store->db_.Exec(pragma, pragma); !ok) return std::unexpected(ok.error());
  }
  // In place of SQLite's own checkpoint hook (wal_autocheckpoint): the same, plus the WAL's size.
  sqlite3_wal_hook(store->db_.handle(), &SqliteJobStore::OnWalCommit, store.get());
  // WAL is a property of the file, set by SqliteStore::Open: check this connection sees it.
  auto mode = store->db_.Prepare("PRAGMA journal_mode");
  if (!mode) return std::unexpected(mode.error());
  auto row = mode->Step("read journal mode");
  if (!row) return std::unexpected(row.error());
  if (!*row || mode->Text(0) != "wal") {
    return Fail(ErrorCode::kIo, fmt::format("state database {}: not in WAL mode", path),
                "keep the state directory on a local file system");
  }
  return store;
}

SqliteJobStore::SqliteJobStore(SqliteDb db, Options options)
    : options_(options), db_(std::move(db)) {}

SqliteJobStore::~SqliteJobStore() = default;

int SqliteJobStore::OnWalCommit(void* self, sqlite3* db, const char* name, int pages) {
  auto* store = static_cast<SqliteJobStore*>(self);
  store->wal_pages_.store(pages);
  if (pages >= store->options_.wal_autocheckpoint_pages) {
    // What SQLite's default hook does; a busy or failed checkpoint is tried again next commit.
    int log = 0;
    int done = 0;
    if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK &&
        done == log) {
      store->wal_pages_.store(0);  // all copied back: the next commit restarts the log
    }
    ++store->inline_checkpoints_;
  }
  return SQLITE_OK;
}

bool SqliteJobStore::IdleWorkDue() const {
  return options_.idle_checkpoint_pages > 0 && wal_pages_.load() >= options_.idle_checkpoint_pages;
}

Result<void> SqliteJobStore::DoIdleWork() {
  if (!IdleWorkDue()) return {};
  std::lock_guard lock(mu_);
  int log = 0;
  int done = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc == SQLITE_BUSY) return {};  // another connection is checkpointing: due again later
  if (rc != SQLITE_OK) return std::unexpected(db_.SqlError(rc, "checkpoint the write-ahead log"));
  // Frames a reader still needed stay in the WAL: the work stays due until they are copied.
  if (done == log) wal_pages_.store(0);
  return {};
}

template <class T>
Result<T> SqliteJobStore::InTransaction(std::string_view what,
                                        const std::function<Result<T>()>& body) {
  if (auto ok = db_.Exec("BEGIN IMMEDIATE", what); !ok) return std::unexpected(ok.error());
  Result<T> out = body();
  if (out) {
    if (auto ok = db_.Exec("COMMIT", what); !ok) out = std::unexpected(ok.error());
  }
  if (!out) db_.Rollback();
  return out;
}

namespace {

JobRecord ReadJob(const SqliteQuery& q) {
  JobRecord job;
  job.id = q.Int(0);
  job.service = q.Text(1);
  job.params = ParseStored(q.Text(2));
  job.priority = static_cast<int>(q.Int(3));
  if (!q.IsNull(4)) job.idempotency_key = q.Text(4);
  job.idempotent = q.Int(5) != 0;
  job.state = ParseJobState(q.Text(6)).value_or(JobState::kFailed);
  job.reason = q.Text(7);
  job.submitted_unix_ms = q.Int(8);
  job.started_unix_ms = q.OptInt(9);
  job.finished_unix_ms = q.OptInt(10);
  if (auto gpu = q.OptInt(11)) job.gpu = static_cast<int>(*gpu);
  job.estimate_bytes = Bytes(static_cast<std::uint64_t>(q.Int(12)));
  if (auto peak = q.OptInt(13)) {
    job.observed_peak_bytes = Bytes(static_cast<std::uint64_t>(*peak));
    job.observation_kind = ParsePeakObservation(q.Text(14));
  }
  job.attempts = static_cast<int>(q.Int(15));
  job.payload_bytes = static_cast<std::uint64_t>(q.Int(16));
  job.origin = ParseJobOrigin(q.Text(17));
  if (!q.IsNull(18)) job.result = ParseStored(q.Text(18));
  job.payload = q.Blob(19);
  return job;
}

}  // namespace

Result<std::vector<JobRecord>> SqliteJobStore::Select(std::string_view sql,
                                                      const std::function<void(SqliteQuery&)>& bind,
                                                      std::string_view what) {
  auto q = db_.Prepare(sql);
  if (!q) return std::unexpected(q.error());
  bind(*q);
  std::vector<JobRecord> out;
  while (true) {
    auto row = q->Step(what);
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(ReadJob(*q));
  }
}

Result<JobRecord> SqliteJobStore::GetLocked(JobId id) {
  auto jobs = Select(
      SelectWhole("WHERE id = ?1"), [&](SqliteQuery& q) { q.Bind(1, id); },
      fmt::format("read job {}", id));
  if (!jobs) return std::unexpected(jobs.error());
  if (jobs->empty()) return std::unexpected(job_rules::NotFoundError(id));
  return std::move(jobs->front());
}

Result<SubmitOutcome> SqliteJobStore::Submit(JobRecord job) {
  auto params = job_rules::CheckSubmit(job);
  if (!params) return std::unexpected(params.error());
  std::lock_guard lock(mu_);
  // One statement, so one transaction and one commit.
  return SubmitLocked(std::move(job), *params);
}

Result<SubmitOutcome> SqliteJobStore::SubmitAndAnnounce(JobRecord job,
                                                        const JobAnnouncer& announce) {
  auto params = job_rules::CheckSubmit(job);
  if (!params) return std::unexpected(params.error());
  std::lock_guard lock(mu_);
  return InTransaction<SubmitOutcome>("submit job", [&]() -> Result<SubmitOutcome> {
    return SubmitAnnouncedLocked(std::move(job), *params, announce);
  });
}

Result<SubmitOutcome> SqliteJobStore::SubmitAnnouncedLocked(JobRecord job,
                                                            const std::string& params,
                                                            const JobAnnouncer& announce) {
  auto out = SubmitLocked(std::move(job), params);
  if (!out || out->duplicate || !announce) return out;
  std::optional<EventRecord> event = announce(out->job);
  if (!event) return out;
  auto id = AppendEventLocked(*event);
  if (!id) return std::unexpected(id.error());
  event->id = *id;
  out->event = std::move(event);
  return out;
}

std::vector<Result<SubmitOutcome>> SqliteJobStore::SubmitBatch(std::vector<JobSubmission> jobs) {
  std::vector<Result<SubmitOutcome>> out(jobs.size(), Result<SubmitOutcome>(SubmitOutcome{}));
  std::vector<std::optional<std::string>> params(jobs.size());
  bool any = false;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    auto checked = job_rules::CheckSubmit(jobs[i].job);
    if (checked) {
      params[i] = std::move(*checked);
      any = true;
    } else {
      out[i] = std::unexpected(checked.error());
    }
  }
  if (!any) return out;
  std::lock_guard lock(mu_);
  auto all = InTransaction<bool>("submit jobs", [&]() -> Result<bool> {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (!params[i]) continue;
      out[i] = SubmitAnnouncedLocked(std::move(jobs[i].job), *params[i], jobs[i].announce);
      if (!out[i]) return std::unexpected(out[i].error());  // rolls back the batch
    }
    return true;
  });
  if (!all) {
    for (std::size_t i = 0; i < jobs.size(); ++i)
      if (params[i]) out[i] = std::unexpected(all.error());
  }
  return out;
}

// As SqliteStore::AppendEvent with its default options (the daemon's).
Result<std::int64_t> SqliteJobStore::AppendEventLocked(const EventRecord& event) {
  return AppendEventRow(db_, event, kMaxEvents, SqliteStore::Options{}.prune_every);
}

Result<SubmitOutcome> SqliteJobStore::SubmitLocked(JobRecord job, const std::string& params) {
  std::optional<std::int64_t> gpu;
  if (job.gpu) gpu = *job.gpu;
  // A known key inserts nothing.
  auto q = db_.Prepare(
      "INSERT INTO jobs (service, params, priority, idempotency_key, idempotent, state, reason, "
      "submitted_unix_ms, started_unix_ms, finished_unix_ms, gpu, estimate_bytes, attempts, "
      "payload_bytes, payload, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?12, ?13, ?14, ?9, "
      "0, ?10, ?11, ?15) "
      "ON CONFLICT (service, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, job.service)
      .Bind(2, params)
      .Bind(3, std::int64_t{job.priority})
      .BindOptional(4, job.idempotency_key)
      .Bind(5, std::int64_t{job.idempotent ? 1 : 0})
      .Bind(6, JobStateName(job.state))
      .Bind(7, job.reason)
      .Bind(8, job.submitted_unix_ms)
      .Bind(9, static_cast<std::int64_t>(job.estimate_bytes.count()))
      .Bind(10, static_cast<std::int64_t>(job.payload.size()))
      .BindBlob(11, job.payload)
      .BindOptional(12, job.started_unix_ms)
      .BindOptional(13, job.finished_unix_ms)
      .BindOptional(14, gpu)
      .Bind(15, JobOriginName(job.origin));
  if (auto ok = q->Run("submit job for " + job.service); !ok) return std::unexpected(ok.error());
  if (db_.Changes() == 0) {
    auto existing = Select(
        SelectWhole("WHERE service = ?1 AND idempotency_key = ?2"),
        [&](SqliteQuery& e) { e.Bind(1, job.service).Bind(2, *job.idempotency_key); },
        "look up idempotency key");
    if (!existing) return std::unexpected(existing.error());
    if (existing->empty()) {
      return Fail(ErrorCode::kInternal, "job insert changed nothing and no job has its key");
    }
    return SubmitOutcome{.job = std::move(existing->front()), .duplicate = true};
  }
  // What a Get would return, without reading anything back (params as passed: they were valid
  // JSON values, so the stored text parses to the same).
  job.id = db_.LastInsertRowid();
  job.payload_bytes = job.payload.size();
  job.attempts = 0;
  job.result = nullptr;
  job.observed_peak_bytes.reset();
  job.observation_kind.reset();
  return SubmitOutcome{.job = std::move(job), .duplicate = false};
}

Result<JobRecord> SqliteJobStore::Get(JobId id) {
  std::lock_guard lock(mu_);
  return GetLocked(id);
}

Result<std::optional<JobRecord>> SqliteJobStore::FindByKey(const std::string& service,
                                                           const std::string& key) {
  std::lock_guard lock(mu_);
  auto jobs = Select(
      SelectWhole("WHERE service = ?1 AND idempotency_key = ?2"),
      [&](SqliteQuery& q) { q.Bind(1, service).Bind(2, key); }, "find a job by its key");
  if (!jobs) return std::unexpected(jobs.error());
  if (jobs->empty()) return std::optional<JobRecord>();
  return std::optional<JobRecord>(std::move(jobs->front()));
}

Result<std::vector<JobRecord>> SqliteJobStore::List(const JobFilter& filter) {
  if (filter.limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("job list limit must be at least 1, not {}", filter.limit));
  }
  std::string rest = "WHERE id > ?1";
  if (!filter.service.empty()) rest += " AND service = ?2";
  if (!filter.states.empty()) rest += " AND instr(?3, '|' || state || '|') > 0";
  rest += filter.newest_first ? " ORDER BY id DESC LIMIT ?4" : " ORDER BY id LIMIT ?4";
  std::lock_guard lock(mu_);
  return Select(
      SelectSummary(rest),
      [&](SqliteQuery& q) {
        q.Bind(1, filter.after_id).Bind(4, std::int64_t{filter.limit});
        if (!filter.service.empty()) q.Bind(2, filter.service);
        if (!filter.states.empty()) q.Bind(3, StateSet(filter.states));
      },
      "list jobs");
}

Result<std::vector<JobRecord>> SqliteJobStore::Queued(const std::string& service) {
  std::lock_guard lock(mu_);
  if (service.empty()) {
    return Select(
        SelectSummary("WHERE state = 'queued' ORDER BY priority DESC, id"), [](SqliteQuery&) {},
        "list queued jobs");
  }
  return Select(
      SelectSummary("WHERE state = 'queued' AND service = ?1 ORDER BY priority DESC, id"),
      [&](SqliteQuery& q) { q.Bind(1, service); }, "list queued jobs of " + service);
}

Result<TransitionOutcome> SqliteJobStore::Transition(JobId id, const std::vector<JobState>& from,
                                                     JobState to, const JobChange& change) {
  if (auto ok = job_rules::CheckTransition(from, to); !ok) return std::unexpected(ok.error());
  std::optional<std::string> result;
  if (change.result) {
    auto text = job_rules::DumpCapped(*change.result, kMaxJobResultBytes, "result");
    if (!text) return std::unexpected(text.error());
    result = std::move(*text);
  }
  std::optional<std::int64_t> gpu;
  if (change.gpu) gpu = *change.gpu;
  std::optional<std::int64_t> estimate;
  if (change.estimate_bytes) estimate = static_cast<std::int64_t>(change.estimate_bytes->count());
  std::lock_guard lock(mu_);
  // The compare and the set in one statement: atomic against every other connection too.
  auto q = db_.Prepare(
      "UPDATE jobs SET state = ?3, attempts = attempts + (?3 = 'starting'), "
      "reason = COALESCE(?4, reason), started_unix_ms = COALESCE(?5, started_unix_ms), "
      "finished_unix_ms = COALESCE(?6, finished_unix_ms), gpu = COALESCE(?7, gpu), "
      "estimate_bytes = COALESCE(?8, estimate_bytes), result = COALESCE(?9, result) "
      "WHERE id = ?1 AND instr(?2, '|' || state || '|') > 0");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, id)
      .Bind(2, StateSet(from))
      .Bind(3, JobStateName(to))
      .BindOptional(4, change.reason)
      .BindOptional(5, change.started_unix_ms)
      .BindOptional(6, change.finished_unix_ms)
      .BindOptional(7, gpu)
      .BindOptional(8, estimate)
      .BindOptional(9, result);
  if (auto ok = q->Run(fmt::format("move job {} to {}", id, JobStateName(to))); !ok) {
    return std::unexpected(ok.error());
  }
  const bool applied = db_.Changes() > 0;
  // Read back under the same lock: no call of this object can come between. (Another process
  // writing the same job between the two statements would show its change, never a torn row.)
  auto job = GetLocked(id);
  if (!job) return std::unexpected(job.error());
  return TransitionOutcome{.applied = applied, .job = std::move(*job)};
}

Result<void> SqliteJobStore::SetResult(JobId id, const nlohmann::json& result) {
  auto text = job_rules::DumpCapped(result, kMaxJobResultBytes, "result");
  if (!text) return std::unexpected(text.error());
  std::lock_guard lock(mu_);
  auto q = db_.Prepare(
      fmt::format("UPDATE jobs SET result = ?2 WHERE id = ?1 AND NOT {}", kTerminalSql));
  if (!q) return std::unexpected(q.error());
  q->Bind(1, id).Bind(2, *text);
  if (auto ok = q->Run(fmt::format("store result of job {}", id)); !ok) return ok;
  if (db_.Changes() > 0) return {};
  auto job = GetLocked(id);  // why not: unknown, or terminal
  if (!job) return std::unexpected(job.error());
  return std::unexpected(job_rules::TerminalError(id, job->state));
}

Result<void> SqliteJobStore::RecordObservation(JobId id, Bytes peak, PeakObservation kind) {
  std::lock_guard lock(mu_);
  auto q =
      db_.Prepare("UPDATE jobs SET observed_peak_bytes = ?2, observation_kind = ?3 WHERE id = ?1");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, id)
      .Bind(2, static_cast<std::int64_t>(peak.count()))
      .Bind(3, PeakObservationName(kind));
  if (auto ok = q->Run(fmt::format("record observation of job {}", id)); !ok) return ok;
  if (db_.Changes() == 0) return std::unexpected(job_rules::NotFoundError(id));
  return {};
}

Result<std::vector<JobRecord>> SqliteJobStore::Observed(const std::string& service, int limit) {
  if (limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("observation limit must be at least 1, not {}", limit));
  }
  std::lock_guard lock(mu_);
  auto jobs = Select(
      SelectSummary("WHERE service = ?1 AND observed_peak_bytes IS NOT NULL "
                    "ORDER BY id DESC LIMIT ?2"),
      [&](SqliteQuery& q) { q.Bind(1, service).Bind(2, std::int64_t{limit}); },
      "read observations of " + service);
  if (jobs) std::reverse(jobs->begin(), jobs->end());
  return jobs;
}

Result<std::vector<RecoveredJob>> SqliteJobStore::RecoverAfterCrash(std::int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  return InTransaction<std::vector<RecoveredJob>>(
      "recover interrupted jobs", [&]() -> Result<std::vector<RecoveredJob>> {
        std::vector<std::pair<JobId, JobState>> ids;
        {
          auto q = db_.Prepare(
              fmt::format("SELECT id, state FROM jobs WHERE {} ORDER BY id", kUnfinishedSql));
          if (!q) return std::unexpected(q.error());
          while (true) {
            auto row = q->Step("find interrupted jobs");
            if (!row) return std::unexpected(row.error());
            if (!*row) break;
            ids.emplace_back(q->Int(0), ParseJobState(q->Text(1)).value_or(JobState::kInterrupted));
          }
        }
        {
          auto q = db_.Prepare(fmt::format(
              "UPDATE jobs SET state = 'queued', reason = ?1, started_unix_ms = NULL, gpu = NULL "
              "WHERE {} AND idempotent = 1",
              kUnfinishedSql));
          if (!q) return std::unexpected(q.error());
          q->Bind(1, kReasonRequeued);
          if (auto ok = q->Run("re-queue interrupted jobs"); !ok) {
            return std::unexpected(ok.error());
          }
        }
        {
          auto q = db_.Prepare(
              fmt::format("UPDATE jobs SET state = 'failed', reason = ?1, finished_unix_ms = ?2 "
                          "WHERE {} AND idempotent = 0",
                          kUnfinishedSql));
          if (!q) return std::unexpected(q.error());
          q->Bind(1, kReasonNotIdempotent).Bind(2, now_unix_ms);
          if (auto ok = q->Run("fail interrupted jobs"); !ok) return std::unexpected(ok.error());
        }
        std::vector<RecoveredJob> out;
        for (const auto& [id, was] : ids) {
          auto job = GetLocked(id);
          if (!job) return std::unexpected(job.error());
          out.push_back(RecoveredJob{.was = was, .job = std::move(*job)});
        }
        return out;
      });
}

Result<JobCounts> SqliteJobStore::Counts(const std::string& service) {
  std::lock_guard lock(mu_);
  auto q = db_.Prepare(service.empty()
                           ? "SELECT state, COUNT(*) FROM jobs GROUP BY state"
                           : "SELECT state, COUNT(*) FROM jobs WHERE service = ?1 GROUP BY state");
  if (!q) return std::unexpected(q.error());
  if (!service.empty()) q->Bind(1, service);
  JobCounts counts;
  while (true) {
    auto row = q->Step("count jobs");
    if (!row) return std::unexpected(row.error());
    if (!*row) return counts;
    if (auto state = ParseJobState(q->Text(0))) counts[*state] = q->Int(1);
  }
}

Result<std::int64_t> SqliteJobStore::Prune(std::int64_t now_unix_ms,
                                           const JobRetention& retention) {
  std::lock_guard lock(mu_);
  // Too old, or older than the newest max_terminal_jobs terminal ones (none when there are
  // fewer: the sub-select is NULL and the comparison false).
  auto q = db_.Prepare(fmt::format(
      "DELETE FROM jobs WHERE {0} AND (COALESCE(finished_unix_ms, submitted_unix_ms) < ?1 OR "
      "id <= (SELECT id FROM jobs WHERE {0} ORDER BY id DESC LIMIT 1 OFFSET ?2))",
      kTerminalSql));
  if (!q) return std::unexpected(q.error());
  q->Bind(1, now_unix_ms - retention.max_age_ms)
      .Bind(2, std::max<std::int64_t>(retention.max_terminal_jobs, 0));
  if (auto ok = q->Run("prune finished jobs"); !ok) return std::unexpected(ok.error());
  return db_.Changes();
}

}  // namespace vg
