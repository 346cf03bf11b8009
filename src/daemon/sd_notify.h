// systemd notification protocol (sd_notify) without libsystemd: READY=1, STATUS=…, STOPPING=1,
// WATCHDOG=1 as datagrams to $NOTIFY_SOCKET. A no-op when the daemon was not started by systemd
// with Type=notify. Not thread-safe (daemon loop only).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vg {

class SdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC from the environment.
  SdNotifier();
  bool enabled() const { return !socket_.empty(); }
  void Notify(const std::string& state) const;
  // Half of WATCHDOG_USEC, the interval at which WATCHDOG=1 must be sent; nullopt when unset.
  std::optional<std::chrono::milliseconds> watchdog_interval() const { return watchdog_; }

 private:
  std::string socket_;
  std::optional<std::chrono::milliseconds> watchdog_;
};

}  // namespace vg
