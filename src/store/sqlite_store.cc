#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "store/sqlite_error.h"
#include "store/sqlite_schema.h"

namespace vg {

namespace {

namespace fs = std::filesystem;

// mkdir -p with mode 0700 for the directories it creates; existing ones are left as they are.
Result<void> MakeDirs(const fs::path& dir) {
  fs::path prefix;
  for (const fs::path& part : dir) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) == 0) continue;
    const int err = errno;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    return std::unexpected(
        ErrnoError("create state directory " + prefix.string(), err == EEXIST ? ENOTDIR : err));
  }
  return {};
}

// Creates the file owner-only before SQLite does (SQLite would use 0644), so the WAL and
// shared-memory files, which copy its mode, are owner-only too. An existing file is untouched.
Result<void> CreateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(ErrnoError("open state database " + path, errno));
  ::close(fd);
  return {};
}

// Runs one pragma or script; returns the first column of the first row, if any.
Result<std::string> ExecScalar(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(db, rc, path, sql));
  std::string first;
  rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW && sqlite3_column_text(raw, 0) != nullptr) {
    first = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return std::unexpected(SqliteError(db, rc, path, sql));
  return first;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  return Open(path, Options{});
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, Options options) {
  if (path.empty()) return Fail(ErrorCode::kInvalidArgument, "state database path is empty");
  if (options.max_events < 1 || options.prune_every < 1 || options.wal_autocheckpoint_pages < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "max_events, prune_every and wal_autocheckpoint_pages must be at least 1");
  }
  if (const fs::path parent = fs::path(path).parent_path(); !parent.empty()) {
    if (auto ok = MakeDirs(parent); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = CreateFile(path); !ok) return std::unexpected(ok.error());

  auto db = SqliteDb::Open(path, options.busy_timeout_ms);
  if (!db) return std::unexpected(db.error());

  // The first read of the file: a damaged or foreign file fails here, before anything is written.
  auto mode = ExecScalar(db->handle(), path, "PRAGMA journal_mode=WAL");
  if (!mode) return std::unexpected(mode.error());
  if (*mode != "wal") {
    return Fail(
        ErrorCode::kIo,
        fmt::format("state database {}: cannot switch to WAL (journal mode is {})", path, *mode),
        "keep the state directory on a local file system");
  }
  const std::string checkpoint =
      fmt::format("PRAGMA wal_autocheckpoint={}", options.wal_autocheckpoint_pages);
  for (const char* pragma :
       {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", checkpoint.c_str()}) {
    if (auto ok = ExecScalar(db->handle(), path, pragma); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = MigrateSchema(db->handle(), path); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*db), options));
}

SqliteStore::SqliteStore(SqliteDb db, Options options) : options_(options), db_(std::move(db)) {}

SqliteStore::~SqliteStore() = default;

Result<void> SqliteStore::PutInstance(const InstanceRecord& instance) {
  std::lock_guard lock(mu_);
  auto q = db_.Prepare(
      "INSERT INTO instances (service, tag, pid, start_time, cgroup, started_unix_ms, fingerprint) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (service) DO UPDATE SET tag = excluded.tag, "
      "pid = excluded.pid, start_time = excluded.start_time, cgroup = excluded.cgroup, "
      "started_unix_ms = excluded.started_unix_ms, fingerprint = excluded.fingerprint");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, instance.service)
      .Bind(2, instance.tag)
      .Bind(3, std::int64_t{instance.pid})
      .Bind(4, static_cast<std::int64_t>(instance.start_time))
      .Bind(5, instance.cgroup)
      .Bind(6, instance.started_unix_ms)
      .Bind(7, instance.fingerprint);
  auto ok = q->Run("record instance of " + instance.service);
  if (!ok && ok.error().code == ErrorCode::kInvalidArgument) {
    // The only constraint an upsert by service can break is the unique tag: name its owner.
    auto owner = db_.Prepare("SELECT service FROM instances WHERE tag = ?1");
    if (!owner) return std::unexpected(owner.error());
    owner->Bind(1, instance.tag);
    auto row = owner->Step("look up instance tag " + instance.tag);
    if (!row) return std::unexpected(row.error());
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("instance tag {} is already recorded for service {}", instance.tag,
                            *row ? owner->Text(0) : "(unknown)"));
  }
  return ok;
}

Result<void> SqliteStore::RemoveInstance(const std::string& service) {
  std::lock_guard lock(mu_);
  auto q = db_.Prepare("DELETE FROM instances WHERE service = ?1");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, service);
  return q->Run("remove instance of " + service);
}

Result<std::vector<InstanceRecord>> SqliteStore::ListInstances() {
  std::lock_guard lock(mu_);
  auto q = db_.Prepare(
      "SELECT service, tag, pid, start_time, cgroup, started_unix_ms, fingerprint FROM instances "
      "ORDER BY service");
  if (!q) return std::unexpected(q.error());
  std::vector<InstanceRecord> out;
  while (true) {
    auto row = q->Step("list instances");
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(InstanceRecord{
        .service = q->Text(0),
        .tag = q->Text(1),
        .pid = static_cast<pid_t>(q->Int(2)),
        .start_time = static_cast<std::uint64_t>(q->Int(3)),
        .cgroup = q->Text(4),
        .started_unix_ms = q->Int(5),
        .fingerprint = q->Text(6),
    });
  }
  return out;
}

Result<std::int64_t> SqliteStore::AppendEvent(EventRecord event) {
  std::lock_guard lock(mu_);
  return AppendEventRow(db_, event, options_.max_events, options_.prune_every);
}

Result<std::vector<EventRecord>> SqliteStore::ListEvents(const EventFilter& filter) {
  std::lock_guard lock(mu_);
  return ListEventsLocked(filter);
}

Result<std::vector<EventRecord>> SqliteStore::ListEventsLocked(const EventFilter& filter) {
  if (filter.limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("event limit must be at least 1, not {}", filter.limit));
  }
  // One cached statement per combination of filters, so each can use its index.
  std::string sql =
      "SELECT id, time_unix_ms, service, instance, kind, message, data FROM events WHERE id > ?1";
  if (!filter.service.empty()) sql += " AND service = ?2";
  if (!filter.kind.empty()) sql += " AND kind = ?3";
  sql += " ORDER BY id DESC LIMIT ?4";
  auto q = db_.Prepare(sql);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, filter.after_id).Bind(4, std::int64_t{filter.limit});
  if (!filter.service.empty()) q->Bind(2, filter.service);
  if (!filter.kind.empty()) q->Bind(3, filter.kind);
  std::vector<EventRecord> out;
  while (true) {
    auto row = q->Step("list events");
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    // The store wrote the data itself; a value that no longer parses reads as null.
    nlohmann::json data = nlohmann::json::parse(q->Text(6), nullptr, false);
    if (data.is_discarded()) data = nullptr;
    out.push_back(EventRecord{
        .id = q->Int(0),
        .time_unix_ms = q->Int(1),
        .service = q->Text(2),
        .instance = q->Text(3),
        .kind = q->Text(4),
        .message = q->Text(5),
        .data = std::move(data),
    });
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::optional<EventRecord>> SqliteStore::LastEvent(const std::string& service) {
  std::lock_guard lock(mu_);
  auto events = ListEventsLocked(EventFilter{.service = service, .limit = 1});
  if (!events) return std::unexpected(events.error());
  if (events->empty()) return std::optional<EventRecord>();
  return std::optional<EventRecord>(std::move(events->front()));
}

Result<void> SqliteStore::PutValue(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  auto q = db_.Prepare(
      "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = "
      "excluded.value");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, key).BindBlob(2, value);
  return q->Run("store value " + key);
}

Result<std::optional<std::string>> SqliteStore::GetValue(const std::string& key) {
  std::lock_guard lock(mu_);
  auto q = db_.Prepare("SELECT value FROM kv WHERE key = ?1");
  if (!q) return std::unexpected(q.error());
  q->Bind(1, key);
  auto row = q->Step("read value " + key);
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(q->Blob(0));
}

}  // namespace vg
