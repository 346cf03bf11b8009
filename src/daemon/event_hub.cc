#include "daemon/event_hub.h"

#include "clock/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

namespace vg {

std::int64_t EventHub::Emit(const std::string& service, const std::string& instance,
                            const std::string& kind, const std::string& message,
                            nlohmann::json data) {
  EventRecord e;
  e.time_unix_ms = UnixNowMs();
  e.service = service;
  e.instance = instance;
  e.kind = kind;
  e.message = message;
  e.data = std::move(data);
  Result<std::int64_t> id = Fail(ErrorCode::kIo, "earlier events are still waiting");
  if (FlushUnstored()) id = store_.AppendEvent(e);
  if (id) {
    e.id = *id;
  } else {
    e.id = last_id_ + 1;
    if (!store_failed_reported_) {
      Log("warning: events are not being stored (" + id.error().message +
          "); they are kept and written once the store takes them");
      store_failed_reported_ = true;
    }
    if (unstored_.size() >= kMaxUnstored) {
      unstored_.pop_front();
      Log("warning: more than " + std::to_string(kMaxUnstored) +
          " events could not be stored; the oldest is dropped");
    }
    unstored_.push_back(e);
  }
  Publish(e);
  return e.id;
}

bool EventHub::FlushUnstored() {
  while (!unstored_.empty()) {
    if (!store_.AppendEvent(unstored_.front())) return false;
    unstored_.pop_front();
  }
  if (store_failed_reported_) {
    Log("events are being stored again");
    store_failed_reported_ = false;
  }
  return true;
}

void EventHub::Publish(const EventRecord& e) {
  last_id_ = e.id;
  Log((e.service.empty() ? std::string("daemon") : e.service) + ": " + e.message);
  // Copy: a subscriber may unsubscribe (or subscribe) while being called.
  std::vector<Subscriber> subs;
  for (auto& [sid, s] : subscribers_) subs.push_back(s);
  for (auto& s : subs) s(e);
}

int EventHub::Subscribe(Subscriber s) {
  int id = next_sub_++;
  subscribers_.emplace(id, std::move(s));
  return id;
}

void EventHub::Unsubscribe(int id) { subscribers_.erase(id); }

void EventHub::Log(const std::string& line) const {
  if (timestamps_) {
    std::fprintf(stderr, "%s %s\n", FormatUnixMs(UnixNowMs()).c_str(), line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

nlohmann::json EventJson(const EventRecord& e) {
  return {{"id", e.id},
          {"time_unix_ms", e.time_unix_ms},
          {"time", FormatUnixMs(e.time_unix_ms)},
          {"service", e.service},
          {"instance", e.instance},
          {"kind", e.kind},
          {"message", e.message},
          {"data", e.data}};
}

}  // namespace vg
