#include "store/sqlite_schema.h"

#include <sqlite3.h>

#include <array>
#include <cstdint>

#include <fmt/format.h>

#include "store/sqlite_error.h"

namespace vg {
namespace {

// One entry per schema version. Append only; never edit an entry that has been released.
constexpr std::array<std::string_view, 4> kMigrations = {
    // 1: instances, events, key/value settings.
    R"sql(
CREATE TABLE instances (
  service         TEXT PRIMARY KEY NOT NULL,
  tag             TEXT NOT NULL UNIQUE,
  pid             INTEGER NOT NULL,
  start_time      INTEGER NOT NULL,
  cgroup          TEXT NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  fingerprint     TEXT NOT NULL
) STRICT;
CREATE TABLE events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  time_unix_ms INTEGER NOT NULL,
  service      TEXT NOT NULL,
  instance     TEXT NOT NULL,
  kind         TEXT NOT NULL,
  message      TEXT NOT NULL,
  data         TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_service ON events (service, id);
CREATE INDEX events_by_kind ON events (kind, id);
CREATE TABLE kv (
  key   TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
) STRICT;
)sql",
    // 2: the durable job queue (job_store.h). The large columns come last: SQLite reads a row's
    // overflow pages only to reach the columns stored in them, so summaries never touch them.
    R"sql(
CREATE TABLE jobs (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  service             TEXT NOT NULL,
  params              TEXT NOT NULL,
  priority            INTEGER NOT NULL,
  idempotency_key     TEXT,
  idempotent          INTEGER NOT NULL,
  state               TEXT NOT NULL,
  reason              TEXT NOT NULL,
  submitted_unix_ms   INTEGER NOT NULL,
  started_unix_ms     INTEGER,
  finished_unix_ms    INTEGER,
  gpu                 INTEGER,
  estimate_bytes      INTEGER NOT NULL,
  observed_peak_bytes INTEGER,
  observation_kind    TEXT,
  attempts            INTEGER NOT NULL,
  payload_bytes       INTEGER NOT NULL,
  result              TEXT,
  payload             BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (service, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_state ON jobs (state, priority DESC, id);
)sql",
    // 3: no index of jobs by state (issue 12). Every submission wrote it — a fourth B-tree in
    // the job's commit — for queries that run at the daemon's start (Queued, RecoverAfterCrash),
    // on a status or list (Counts) and every ten minutes (Prune): table scans now.
    R"sql(
DROP INDEX jobs_by_state;
)sql",
    // 4: where a job came from: "api" (POST /v1/jobs, the fleet) or "door" (a request held by a
    // service's proxy, docs/proxy.md): a door job's client does not outlive the daemon.
    R"sql(
ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'api';
)sql",
};

Result<void> Exec(sqlite3* db, const std::string& path, const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(db, rc, path, what));
  return {};
}

Result<std::int64_t> CurrentVersion(sqlite3* db, const std::string& path) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &raw, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(db, rc, path, "read schema version"));
  rc = sqlite3_step(raw);
  std::int64_t version = 0;
  if (rc == SQLITE_ROW) version = sqlite3_column_int64(raw, 0);  // NULL (no row) reads as 0
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW) return std::unexpected(SqliteError(db, rc, path, "read schema version"));
  return version;
}

Result<void> MigrateLocked(sqlite3* db, const std::string& path) {
  auto ok =
      Exec(db, path, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT",
           "create schema_version");
  if (!ok) return ok;
  auto version = CurrentVersion(db, path);
  if (!version) return std::unexpected(version.error());
  const auto latest = static_cast<std::int64_t>(kMigrations.size());
  if (*version > latest) {
    return Fail(ErrorCode::kRefused,
                fmt::format("state database {} has schema version {}, newer than this vramguard "
                            "knows ({})",
                            path, *version, latest),
                "run the newer vramguard, or point state_dir at another directory");
  }
  for (std::int64_t v = *version; v < latest; ++v) {
    const std::string sql(kMigrations[static_cast<std::size_t>(v)]);
    ok = Exec(db, path, sql.c_str(), fmt::format("migrate schema to version {}", v + 1));
    if (!ok) return ok;
  }
  if (*version == latest) return {};
  const std::string record =
      fmt::format("DELETE FROM schema_version; INSERT INTO schema_version VALUES ({})", latest);
  return Exec(db, path, record.c_str(), "record schema version");
}

}  // namespace

std::span<const std::string_view> SqliteMigrations() { return kMigrations; }

Result<void> MigrateSchema(sqlite3* db, const std::string& path) {
  auto ok = Exec(db, path, "BEGIN IMMEDIATE", "begin schema migration");
  if (!ok) return ok;
  ok = MigrateLocked(db, path);
  if (ok) ok = Exec(db, path, "COMMIT", "commit schema migration");
  if (!ok) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);  // nothing to keep
  return ok;
}

}  // namespace vg
