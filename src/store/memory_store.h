// MemoryStore: the StateStore fake for unit tests. Same semantics as SqliteStore (pinned by the
// shared StoreBehaviour suite), held in memory, plus switches a test flips to reach error paths.
//
// fail_next_write: when set, the next write (PutInstance, RemoveInstance, AppendEvent, PutValue)
// returns that Error, changes nothing, and clears the switch. Reads never fail.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/state_store.h"

namespace vg {

class MemoryStore final : public StateStore {
 public:
  // Keeps exactly the newest `max_events` events (SqliteStore keeps at least that many).
  explicit MemoryStore(std::int64_t max_events = kMaxEvents)
      : max_events_(max_events < 1 ? 1 : max_events) {}

  std::optional<Error> fail_next_write;
  int writes() const { return writes_; }  // writes that succeeded

  Result<void> PutInstance(const InstanceRecord& instance) override;
  Result<void> RemoveInstance(const std::string& service) override;
  Result<std::vector<InstanceRecord>> ListInstances() override;

  Result<std::int64_t> AppendEvent(EventRecord event) override;
  Result<std::vector<EventRecord>> ListEvents(const EventFilter& filter) override;
  Result<std::optional<EventRecord>> LastEvent(const std::string& service) override;

  Result<void> PutValue(const std::string& key, const std::string& value) override;
  Result<std::optional<std::string>> GetValue(const std::string& key) override;

 private:
  // The armed failure, once; success otherwise.
  Result<void> TakeFailure();

  std::int64_t max_events_;
  std::map<std::string, InstanceRecord> instances_;  // by service
  std::deque<EventRecord> events_;                   // oldest first
  std::int64_t next_event_id_ = 1;
  std::map<std::string, std::string> values_;
  int writes_ = 0;
};

}  // namespace vg
