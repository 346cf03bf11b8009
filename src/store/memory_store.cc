#include "store/memory_store.h"

#include <algorithm>
#include <utility>

namespace vg {

Result<void> MemoryStore::TakeFailure() {
  if (!fail_next_write) return {};
  Error e = std::move(*fail_next_write);
  fail_next_write.reset();
  return std::unexpected(std::move(e));
}

Result<void> MemoryStore::PutInstance(const InstanceRecord& instance) {
  if (auto ok = TakeFailure(); !ok) return ok;
  for (const auto& [service, existing] : instances_) {
    if (service != instance.service && existing.tag == instance.tag) {
      return Fail(ErrorCode::kInvalidArgument,
                  "instance tag " + instance.tag + " is already recorded for service " + service);
    }
  }
  instances_[instance.service] = instance;
  ++writes_;
  return {};
}

Result<void> MemoryStore::RemoveInstance(const std::string& service) {
  if (auto ok = TakeFailure(); !ok) return ok;
  instances_.erase(service);
  ++writes_;
  return {};
}

Result<std::vector<InstanceRecord>> MemoryStore::ListInstances() {
  std::vector<InstanceRecord> out;
  for (const auto& [service, instance] : instances_) out.push_back(instance);
  return out;
}

Result<std::int64_t> MemoryStore::AppendEvent(EventRecord event) {
  if (auto ok = TakeFailure(); !ok) return std::unexpected(ok.error());
  const std::int64_t id = next_event_id_++;
  event.id = id;
  events_.push_back(std::move(event));
  while (static_cast<std::int64_t>(events_.size()) > max_events_) events_.pop_front();
  ++writes_;
  return id;
}

Result<std::vector<EventRecord>> MemoryStore::ListEvents(const EventFilter& filter) {
  if (filter.limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "event limit must be at least 1, not " + std::to_string(filter.limit));
  }
  std::vector<EventRecord> out;
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (static_cast<int>(out.size()) == filter.limit || it->id <= filter.after_id) break;
    if (!filter.service.empty() && it->service != filter.service) continue;
    if (!filter.kind.empty() && it->kind != filter.kind) continue;
    out.push_back(*it);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::optional<EventRecord>> MemoryStore::LastEvent(const std::string& service) {
  auto events = ListEvents(EventFilter{.service = service, .limit = 1});
  if (!events) return std::unexpected(events.error());
  if (events->empty()) return std::optional<EventRecord>();
  return std::optional<EventRecord>(std::move(events->front()));
}

Result<void> MemoryStore::PutValue(const std::string& key, const std::string& value) {
  if (auto ok = TakeFailure(); !ok) return ok;
  values_[key] = value;
  ++writes_;
  return {};
}

Result<std::optional<std::string>> MemoryStore::GetValue(const std::string& key) {
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

}  // namespace vg
