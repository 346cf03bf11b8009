// EventHub: every state change of the daemon becomes an event — stored durably (StateStore),
// written to stderr as one log line, and handed to live subscribers (`events --follow`, CLI
// clients waiting for an operation to finish).
//
// Single-threaded: used only from the daemon's event loop. A store failure never loses the event
// for live subscribers; it is reported once on stderr.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "store/state_store.h"

namespace vg {

class EventHub {
 public:
  // timestamps: prefix log lines with the time (off under systemd, whose journal adds its own).
  EventHub(StateStore& store, bool timestamps) : store_(store), timestamps_(timestamps) {}

  // Records and publishes an event; returns its id.
  std::int64_t Emit(const std::string& service, const std::string& instance,
                    const std::string& kind, const std::string& message,
                    nlohmann::json data = nlohmann::json::object());

  // Publishes an event that is already stored (its id set), e.g. in the same transaction as the
  // job it announces (JobStore::SubmitAndAnnounce): the log line and the subscribers, as Emit.
  void Publish(const EventRecord& event);

  using Subscriber = std::function<void(const EventRecord&)>;
  int Subscribe(Subscriber s);
  void Unsubscribe(int id);

  std::int64_t last_id() const { return last_id_; }
  StateStore& store() { return store_; }

  // A log line on stderr that is not an event (daemon start-up steps).
  void Log(const std::string& line) const;

 private:
  StateStore& store_;
  bool timestamps_;
  std::int64_t last_id_ = 0;
  int next_sub_ = 1;
  std::map<int, Subscriber> subscribers_;
  bool store_failed_reported_ = false;
  // Events the store refused (a full disk): written, in order, before the next event, so a
  // passing failure loses none. Bounded: past kMaxUnstored the oldest are dropped (and said so).
  static constexpr std::size_t kMaxUnstored = 10000;
  std::deque<EventRecord> unstored_;
  bool FlushUnstored();
};

nlohmann::json EventJson(const EventRecord& e);

}  // namespace vg
