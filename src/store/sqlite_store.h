// SqliteStore: the production StateStore, one SQLite database file in the state directory
// (docs/state.md: where it lives, the schema, what deleting it loses).
//
// Open creates the parent directories (mode 0700) and the file (0600) when missing, switches the
// file to WAL with synchronous=NORMAL — a commit survives the writer's SIGKILL, and readers in
// other processes see it at once without blocking the writer — sets a busy timeout and foreign
// keys, and migrates the schema (sqlite_schema.h). A damaged file or one that is not a database is
// refused with an Error that names the file; nothing is overwritten.
//
// Ownership: the object owns its connection and its cached prepared statements; destroying it
// closes them. Do not carry one across fork(): the child opens its own.
// Thread-safety: thread-safe; a mutex serialises every call on one connection. Other connections
// and other processes may open the same file at the same time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite_db.h"
#include "store/state_store.h"

namespace vg {

class SqliteStore final : public StateStore {
 public:
  struct Options {
    std::int64_t max_events = kMaxEvents;  // keep at least this many newest events
    std::int64_t prune_every = 1000;       // prune when an event id is a multiple of this
    int busy_timeout_ms = 5000;            // wait this long for another writer's lock
    // A commit of this connection that leaves the write-ahead log at this many pages or more
    // copies it back into the file first (a checkpoint; SQLite's default is 1,000). The daemon
    // raises it and checkpoints when idle instead (SqliteJobStore::Options).
    int wal_autocheckpoint_pages = 1000;
  };

  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, Options options);

  ~SqliteStore() override;

  const std::string& path() const { return db_.path(); }

  Result<void> PutInstance(const InstanceRecord& instance) override;
  Result<void> RemoveInstance(const std::string& service) override;
  Result<std::vector<InstanceRecord>> ListInstances() override;

  Result<std::int64_t> AppendEvent(EventRecord event) override;
  Result<std::vector<EventRecord>> ListEvents(const EventFilter& filter) override;
  Result<std::optional<EventRecord>> LastEvent(const std::string& service) override;

  Result<void> PutValue(const std::string& key, const std::string& value) override;
  Result<std::optional<std::string>> GetValue(const std::string& key) override;

 private:
  SqliteStore(SqliteDb db, Options options);

  // Caller holds mu_.
  Result<std::vector<EventRecord>> ListEventsLocked(const EventFilter& filter);

  std::mutex mu_;
  const Options options_;
  SqliteDb db_;  // guarded by mu_
};

}  // namespace vg
