#include "daemon/event_hub.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

namespace vg {
namespace {

std::int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TimeText(std::int64_t unix_ms) {
  std::time_t s = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

}  // namespace

std::int64_t EventHub::Emit(const std::string& service, const std::string& instance,
                            const std::string& kind, const std::string& message,
                            nlohmann::json data) {
  EventRecord e;
  e.time_unix_ms = NowUnixMs();
  e.service = service;
  e.instance = instance;
  e.kind = kind;
  e.message = message;
  e.data = std::move(data);
  auto id = store_.AppendEvent(e);
  if (id) {
    e.id = *id;
  } else {
    e.id = last_id_ + 1;
    if (!store_failed_reported_) {
      Log("warning: events are not being stored: " + id.error().message);
      store_failed_reported_ = true;
    }
  }
  last_id_ = e.id;
  Log((service.empty() ? std::string("daemon") : service) + ": " + message);
  // Copy: a subscriber may unsubscribe (or subscribe) while being called.
  std::vector<Subscriber> subs;
  for (auto& [sid, s] : subscribers_) subs.push_back(s);
  for (auto& s : subs) s(e);
  return e.id;
}

int EventHub::Subscribe(Subscriber s) {
  int id = next_sub_++;
  subscribers_.emplace(id, std::move(s));
  return id;
}

void EventHub::Unsubscribe(int id) { subscribers_.erase(id); }

void EventHub::Log(const std::string& line) const {
  if (timestamps_) {
    std::fprintf(stderr, "%s %s\n", TimeText(NowUnixMs()).c_str(), line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

nlohmann::json EventJson(const EventRecord& e) {
  return {{"id", e.id},
          {"time_unix_ms", e.time_unix_ms},
          {"time", TimeText(e.time_unix_ms)},
          {"service", e.service},
          {"instance", e.instance},
          {"kind", e.kind},
          {"message", e.message},
          {"data", e.data}};
}

}  // namespace vg
