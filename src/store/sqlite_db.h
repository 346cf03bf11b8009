// SqliteDb: one open SQLite connection to a state database file, with the path it names in errors
// and a cache of prepared statements; SqliteQuery: one use of a cached statement (bind, step,
// read). The SQLite stores (SqliteStore, SqliteJobStore) each own one SqliteDb and keep their SQL.
//
// Open opens an existing file read-write (it creates nothing), turns on extended result codes and
// sets the busy timeout; pragmas, WAL and the schema are the caller's. Errors name the file, say
// what was being done and carry a hint (SqliteError in sqlite_error.h).
//
// Ownership: a SqliteDb owns its connection and its prepared statements; destroying it finalizes
// the statements and closes the connection. A SqliteQuery borrows a statement and its SqliteDb:
// use it, then let it go before the next Prepare of the same SQL and before the SqliteDb is
// destroyed or moved. Do not carry either across fork(): the child opens its own.
// Thread-safety: none. The owner serialises every call on one SqliteDb (the stores hold a mutex).
// Units: integers are SQLite's 64-bit signed values; text and blobs are bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/state_store.h"
#include "util/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vg {

class SqliteDb;

// Binds, steps and reads columns of one cached statement; on destruction resets it and clears its
// bindings, so the cache hands it out clean next time. Parameter and column indexes are SQLite's
// (parameters from 1, columns from 0). Bind errors are remembered and reported by the next Step;
// a parameter left unbound is NULL.
class SqliteQuery {
 public:
  SqliteQuery(SqliteQuery&& other) noexcept;
  SqliteQuery& operator=(SqliteQuery&&) = delete;
  ~SqliteQuery();

  SqliteQuery& Bind(int index, std::int64_t value);
  // Copies the text (SQLITE_TRANSIENT): a temporary string may be passed.
  SqliteQuery& Bind(int index, std::string_view text);
  // Binds the value, or leaves the parameter NULL when there is none.
  template <class T>
  SqliteQuery& BindOptional(int index, const std::optional<T>& value) {
    if (value) Bind(index, *value);
    return *this;
  }
  // Binds the bytes as a blob WITHOUT copying them (SQLITE_STATIC), so a large payload is not
  // copied once more on its way to disk: the bytes must stay valid and unchanged until the last
  // Step of this query. Pass a string that outlives the query, never a temporary (that overload is
  // deleted).
  SqliteQuery& BindBlob(int index, std::string_view bytes);
  SqliteQuery& BindBlob(int index, std::string&& bytes) = delete;

  // True when a row is ready, false when the statement is done.
  Result<bool> Step(std::string_view what);
  // Runs a statement that returns no rows (steps once).
  Result<void> Run(std::string_view what);

  bool IsNull(int col) const;
  std::int64_t Int(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;  // nullopt for NULL
  std::string Text(int col) const;                    // empty for NULL
  std::string Blob(int col) const;                    // empty for NULL

 private:
  friend class SqliteDb;
  SqliteQuery(const SqliteDb& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  void Check(int rc);

  const SqliteDb* db_;
  sqlite3_stmt* stmt_;
  int rc_ = 0;  // SQLITE_OK, or the first bind error
};

class SqliteDb {
 public:
  // Opens the existing database file at `path` read-write, without SQLite's own mutex.
  static Result<SqliteDb> Open(const std::string& path, int busy_timeout_ms);

  SqliteDb(SqliteDb&&) noexcept = default;
  SqliteDb& operator=(SqliteDb&&) = delete;
  ~SqliteDb();

  const std::string& path() const { return path_; }
  // The raw connection, for what takes one (MigrateSchema). Still owned by this object.
  sqlite3* handle() const { return db_.get(); }

  // The cached statement for `sql` (prepared on first use, kept until destruction), ready to bind.
  Result<SqliteQuery> Prepare(std::string_view sql);
  // Prepares `sql` (cached) and steps it until done, ignoring rows: pragmas, BEGIN, COMMIT.
  Result<void> Exec(std::string_view sql, std::string_view what);
  // Rolls back the open transaction, if any; there is nothing to keep, so errors are ignored.
  void Rollback();

  // Rows changed by the last INSERT, UPDATE or DELETE on this connection.
  std::int64_t Changes() const;
  // Row id of the last successful INSERT on this connection.
  std::int64_t LastInsertRowid() const;

  // An Error naming this file and `what` for result code `rc` (SqliteError).
  Error SqlError(int rc, std::string_view what) const;

 private:
  struct CloseDb {
    void operator()(sqlite3* db) const;
  };
  struct FinalizeStmt {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
  using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

  SqliteDb(std::string path, DbPtr db);

  std::string path_;
  DbPtr db_;                                                // declared before the statements:
  std::map<std::string, StmtPtr, std::less<>> statements_;  // they are finalized first
};

// Inserts one row into the `events` table (both stores share it) and returns its id; every
// `prune_every`-th id deletes all but the newest `max_events` rows, so the table stays at most
// prune_every rows over max_events without counting rows. Invalid UTF-8 in the data (a service's
// raw log line) is replaced, not thrown about. The caller holds the connection's lock.
Result<std::int64_t> AppendEventRow(SqliteDb& db, const EventRecord& event, std::int64_t max_events,
                                    std::int64_t prune_every);

}  // namespace vg
