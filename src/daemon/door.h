// DoorPolicy: the ProxyPolicy the daemon gives each service's reverse proxy ([service.proxy],
// docs/proxy.md "Start on demand"). It makes the proxy the service's front door:
//
//  - A request while the service runs is forwarded and counted as work on it (ServicePort's
//    BeginJob … EndJob, from the head until the response ended), so idle_unload never stops a
//    service in the middle of a request and its idle clock runs from the last request's end.
//    Upgrades (WebSockets) are forwarded but not counted: a browser tab that keeps one open
//    would otherwise keep the service loaded for ever.
//  - A request while the service is stopped (by a user, idle_unload, a swap), failed, starting,
//    waiting for VRAM or stopping is held: the door asks for a start (once per episode; a start
//    the supervisor refuses or that fails answers every held request 503 with the reason) and
//    forwards the held requests when the service is ready. A request held longer than
//    hold_timeout is answered 503 with Retry-After. A client that leaves while held is dropped.
//    With start_on_demand = false such a request is answered 503 at once, naming the state.
//  - Every answer of its own is the proxy's one-line JSON error ({"error", "hint"}) with
//    `Retry-After`, so a client (or a person with curl) knows what happened and when to retry.
//
// Single-threaded: the daemon's io_context; the port and the event hub outlive it. Asio stays
// out of this header.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/proxy.h"

namespace boost::asio {
class io_context;
}

namespace vg {

class ServicePort;
class EventHub;
struct EventRecord;

class DoorPolicy final : public ProxyPolicy {
 public:
  DoorPolicy(boost::asio::io_context& io, ServicePort& port, EventHub& events, std::string service,
             const ProxySpec& spec);
  ~DoorPolicy() override;
  DoorPolicy(const DoorPolicy&) = delete;
  DoorPolicy& operator=(const DoorPolicy&) = delete;

  // Lets go of the port and the event hub: ends the counted work, unsubscribes, answers nothing
  // more (the proxy that holds the policy may outlive them: its pending handlers die with the
  // io_context). Call it before the port or the hub is destroyed; the destructor does the same.
  void Close();

  ProxyVerdict Decide(const ProxyRequestHead& head, ProxyRelease release) override;
  void OnRequestEnd(const ProxyRequestHead& head, const ProxyRequestEnd& end) override;

  std::size_t held() const;      // requests waiting for the service now
  std::size_t counted() const;   // forwarded requests counted as work on it now
  std::uint64_t starts() const;  // starts the door asked for since it was made

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vg
