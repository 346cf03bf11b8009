// The daemon's durable state: the live instance of each service, the event log, and a small
// key/value table — what `vramguard up` needs to re-adopt its services after its own SIGKILL.
//
// StateStore is the interface; SqliteStore (sqlite_store.h) is production, MemoryStore
// (memory_store.h) is the fake for unit tests. Both have the same semantics, pinned by one shared
// test suite:
//   - PutInstance upserts by service: at most one live instance per service. An instance tag
//     (the VRAMGUARD_INSTANCE value) belongs to one service; reusing another service's tag fails
//     with kInvalidArgument. RemoveInstance of an absent service succeeds.
//   - ListInstances returns instances ordered by service name.
//   - AppendEvent assigns ids that only increase (never reused, even after pruning) and returns
//     the id; the id passed in is ignored. The newest kMaxEvents events are kept; older ones are
//     pruned eventually.
//   - ListEvents returns the newest `limit` events matching the filter, oldest first.
//     LastEvent returns the newest event of one service (any service when the name is empty).
//   - PutValue/GetValue: opaque byte strings by key, for small daemon-wide settings.
// Every write is durable once it returns (SqliteStore: committed to the WAL; survives a crash of
// the process, not necessarily a power cut). Errors are values; nothing throws.
// Thread-safety: SqliteStore is thread-safe; MemoryStore is not (fakes never are).
// Units: times are Unix epoch milliseconds (`_unix_ms`); start_time is clock ticks since boot, as
// /proc/<pid>/stat field 22 gives it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace vg {

// How many events the store keeps, at least; older ones are deleted.
inline constexpr std::int64_t kMaxEvents = 100000;

struct InstanceRecord {
  std::string service;
  std::string tag;  // VRAMGUARD_INSTANCE value, unique
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // /proc stat field 22 of the main process
  std::string cgroup;            // path or empty
  std::int64_t started_unix_ms = 0;
  std::string fingerprint;  // config fingerprint it was started with

  bool operator==(const InstanceRecord&) const = default;
};

struct EventRecord {
  std::int64_t id = 0;  // assigned by the store, increasing
  std::int64_t time_unix_ms = 0;
  std::string service;   // empty for daemon-wide events
  std::string instance;  // instance tag, or empty
  std::string kind;  // "started", "ready", "exited", "crashed", "stopped", "waiting-for-vram", …
  std::string message;  // one human line
  nlohmann::json data;  // structured fields

  bool operator==(const EventRecord&) const = default;
};

struct EventFilter {
  std::int64_t after_id = 0;  // only events with id > after_id
  std::string service;        // empty: any
  std::string kind;           // empty: any
  int limit = 100;            // newest `limit` matching, returned oldest first; must be ≥ 1
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual Result<void> PutInstance(const InstanceRecord& instance) = 0;
  virtual Result<void> RemoveInstance(const std::string& service) = 0;
  virtual Result<std::vector<InstanceRecord>> ListInstances() = 0;

  virtual Result<std::int64_t> AppendEvent(EventRecord event) = 0;
  virtual Result<std::vector<EventRecord>> ListEvents(const EventFilter& filter) = 0;
  virtual Result<std::optional<EventRecord>> LastEvent(const std::string& service) = 0;

  virtual Result<void> PutValue(const std::string& key, const std::string& value) = 0;
  virtual Result<std::optional<std::string>> GetValue(const std::string& key) = 0;
};

}  // namespace vg
