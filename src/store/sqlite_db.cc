#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

#include "store/sqlite_error.h"

namespace vg {

static_assert(SQLITE_OK == 0, "SqliteQuery::rc_ starts at 0 meaning SQLITE_OK");

SqliteQuery::SqliteQuery(SqliteQuery&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), rc_(other.rc_) {}

SqliteQuery::~SqliteQuery() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void SqliteQuery::Check(int rc) {
  if (rc != SQLITE_OK && rc_ == SQLITE_OK) rc_ = rc;
}

SqliteQuery& SqliteQuery::Bind(int index, std::int64_t value) {
  Check(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

SqliteQuery& SqliteQuery::Bind(int index, std::string_view text) {
  // A non-null pointer even for an empty string: a null one would bind SQL NULL.
  const char* data = text.empty() ? "" : text.data();
  Check(sqlite3_bind_text(stmt_, index, data, static_cast<int>(text.size()), SQLITE_TRANSIENT));
  return *this;
}

SqliteQuery& SqliteQuery::BindBlob(int index, std::string_view bytes) {
  // A non-null pointer even for zero bytes: a null one would bind SQL NULL.
  const char* data = bytes.empty() ? "" : bytes.data();
  Check(sqlite3_bind_blob(stmt_, index, data, static_cast<int>(bytes.size()), SQLITE_STATIC));
  return *this;
}

Result<bool> SqliteQuery::Step(std::string_view what) {
  if (rc_ != SQLITE_OK) return std::unexpected(db_->SqlError(rc_, what));
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(db_->SqlError(rc, what));
}

Result<void> SqliteQuery::Run(std::string_view what) {
  auto row = Step(what);
  if (!row) return std::unexpected(row.error());
  return {};
}

bool SqliteQuery::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::int64_t SqliteQuery::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<std::int64_t> SqliteQuery::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::string SqliteQuery::Text(int col) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (text == nullptr) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string SqliteQuery::Blob(int col) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  if (data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

void SqliteDb::CloseDb::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteDb::FinalizeStmt::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

Result<SqliteDb> SqliteDb::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // closed on every path out, even when the open failed
  if (rc != SQLITE_OK) return std::unexpected(SqliteError(db.get(), rc, path, "open"));
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  return SqliteDb(path, std::move(db));
}

SqliteDb::SqliteDb(std::string path, DbPtr db) : path_(std::move(path)), db_(std::move(db)) {}

SqliteDb::~SqliteDb() = default;

Result<SqliteQuery> SqliteDb::Prepare(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(SqlError(rc, "prepare statement"));
    it = statements_.emplace(std::string(sql), StmtPtr(raw)).first;
  }
  return SqliteQuery(*this, it->second.get());
}

Result<void> SqliteDb::Exec(std::string_view sql, std::string_view what) {
  auto q = Prepare(sql);
  if (!q) return std::unexpected(q.error());
  while (true) {
    auto row = q->Step(what);
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

void SqliteDb::Rollback() { sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr); }

std::int64_t SqliteDb::Changes() const { return sqlite3_changes(db_.get()); }

std::int64_t SqliteDb::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_.get()); }

Error SqliteDb::SqlError(int rc, std::string_view what) const {
  return SqliteError(db_.get(), rc, path_, what);
}

Result<std::int64_t> AppendEventRow(SqliteDb& db, const EventRecord& event, std::int64_t max_events,
                                    std::int64_t prune_every) {
  const std::string data =
      event.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::int64_t id = 0;
  {
    auto q = db.Prepare(
        "INSERT INTO events (time_unix_ms, service, instance, kind, message, data) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!q) return std::unexpected(q.error());
    q->Bind(1, event.time_unix_ms)
        .Bind(2, event.service)
        .Bind(3, event.instance)
        .Bind(4, event.kind)
        .Bind(5, event.message)
        .Bind(6, data);
    if (auto ok = q->Run("append event"); !ok) return std::unexpected(ok.error());
    id = db.LastInsertRowid();
  }
  if (id % prune_every == 0 && id > max_events) {
    auto q = db.Prepare("DELETE FROM events WHERE id <= ?1");
    if (!q) return std::unexpected(q.error());
    q->Bind(1, id - max_events);
    if (auto ok = q->Run("prune events"); !ok) return std::unexpected(ok.error());
  }
  return id;
}

}  // namespace vg
