// AlertDispatcher: sends events to the [[alert]] receivers — a webhook (HTTP POST of the event
// JSON) or a command (the event JSON on its stdin, no shell) — with de-duplication, a timeout per
// attempt and retries with exponential backoff (the decisions are core/alert_policy.h).
//
// Delivery runs as coroutines on the daemon's io_context: Emit never waits for a receiver, and a
// slow receiver delays nothing but its own alerts. A delivery that fails after its retries
// becomes an `alert-failed` event, which is never itself alerted.
//
// The payload is the event as `vramguard events --json` shows it (EventJson) plus `count` (how
// many events it stands for: 1, or for a de-duplication summary the events after the first) and
// `alert` ({"summary": bool, "dedup_s": window}).
//
// Children (commands) are reaped by the daemon's SIGCHLD handler: `children` hands their pids to
// it and takes their statuses back. Single-threaded (daemon loop).
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "core/alert_policy.h"
#include "daemon/event_hub.h"

namespace vg {

struct ChildWatch {
  std::function<void(pid_t)> watch;               // the SIGCHLD handler keeps its status
  std::function<std::optional<int>(pid_t)> take;  // the status once reaped, then forgotten
};

class AlertDispatcher {
 public:
  AlertDispatcher(boost::asio::io_context& io, EventHub& events, ChildWatch children);
  ~AlertDispatcher();
  AlertDispatcher(const AlertDispatcher&) = delete;
  AlertDispatcher& operator=(const AlertDispatcher&) = delete;

  // Replaces the receivers (config load and reload); open de-duplication windows are dropped.
  void Configure(const std::vector<AlertSpec>& specs);

  struct Slot;  // one receiver (alerts.cc)

  // Alerts delivered, and given up on after every retry, since the dispatcher was made.
  std::int64_t delivered() const { return totals_->delivered; }
  std::int64_t failed() const { return totals_->failed; }

 private:
  void OnEvent(const EventRecord& e);
  void ArmTimer();
  void Send(std::shared_ptr<Slot> slot, nlohmann::json payload);

  boost::asio::io_context& io_;
  EventHub& events_;
  ChildWatch children_;
  int subscription_ = 0;
  std::vector<std::shared_ptr<Slot>> slots_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
  struct Totals {
    std::int64_t delivered = 0;
    std::int64_t failed = 0;
  };
  std::shared_ptr<Totals> totals_ = std::make_shared<Totals>();  // outlives a delivery in flight
};

}  // namespace vg
