#include "daemon/door.h"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "daemon/event_hub.h"
#include "daemon/service_port.h"
#include "util/units.h"

namespace vg {

namespace asio = boost::asio;

namespace {

// How long a client is told to wait before trying again.
constexpr int kRetryAfterFailedS = 60;
constexpr int kRetryAfterTimeoutS = 30;
// Starts the door asks for while one set of requests waits: the second covers a stop that
// overtook the first start (an idle unload that was already under way); a third would be a loop.
constexpr int kMaxStartsPerWait = 2;
// The request target as events show it (a client chooses it: bounded).
constexpr std::size_t kMaxTargetInEvent = 200;

HttpResponse Unavailable(int retry_after_s, std::string error, std::string hint) {
  HttpResponse r = HttpResponse::Error(503, std::move(error), std::move(hint));
  r.headers["Retry-After"] = std::to_string(retry_after_s);
  return r;
}

}  // namespace

struct DoorPolicy::State : std::enable_shared_from_this<DoorPolicy::State> {
  struct Held {
    ProxyRelease release;
    std::chrono::steady_clock::time_point deadline;
    bool upgrade = false;
  };

  State(asio::io_context& io_, ServicePort& port_, EventHub& events_, std::string service_,
        const ProxySpec& spec_)
      : io(io_),
        port(port_),
        events(events_),
        service(std::move(service_)),
        spec(spec_),
        timer(io_) {}

  asio::io_context& io;
  ServicePort& port;
  EventHub& events;
  std::string service;
  ProxySpec spec;
  asio::steady_timer timer;
  std::map<std::uint64_t, Held> held;
  std::set<std::uint64_t> counted;
  int subscription = 0;
  int starts_this_wait = 0;
  bool start_pending = false;  // asked for, and the service has not left stopped/failed since
  std::uint64_t starts = 0;
  bool timer_armed = false;
  bool closed = false;  // Close(): the port and the hub may be gone

  std::optional<ServicePort::View> Look() const { return port.Look(service); }

  // Forwards a request now, counting it as work unless it is an upgrade. False: the service is
  // not running (BeginJob refused), so it cannot go yet.
  bool Admit(std::uint64_t id, bool upgrade) {
    if (upgrade) {
      const auto v = Look();
      return v && v->state == ServicePort::State::kRunning;
    }
    if (!port.BeginJob(service)) return false;
    counted.insert(id);
    return true;
  }

  void AnswerAll(const HttpResponse& response) {
    // release() never resumes a request inside the call, so held can be cleared first.
    std::map<std::uint64_t, Held> answered;
    answered.swap(held);
    starts_this_wait = 0;
    start_pending = false;
    for (auto& [id, h] : answered) h.release(response);
  }

  void AskStart(const std::string& client, const std::string& target) {
    if (starts_this_wait >= kMaxStartsPerWait) {
      const auto v = Look();
      AnswerAll(Unavailable(kRetryAfterFailedS,
                            service + " did not stay up for the requests waiting on it" +
                                (v && !v->detail.empty() ? ": " + v->detail : std::string()),
                            "see `vramguard events --service " + service + "`"));
      return;
    }
    ++starts_this_wait;
    ++starts;
    start_pending = true;
    std::string shown =
        target.size() > kMaxTargetInEvent ? target.substr(0, kMaxTargetInEvent) + "…" : target;
    events.Emit(service, "", "start-on-demand",
                "a request through the proxy starts " + service +
                    " (held until it is ready, at most " + FormatSeconds(spec.hold_timeout) + ")",
                {{"client", client}, {"target", shown}, {"held", held.size()}});
    if (auto r = port.Start(service); !r) {
      start_pending = false;
      AnswerAll(Unavailable(
          kRetryAfterFailedS, service + " could not be started: " + r.error().message,
          r.error().hint.empty() ? "see `vramguard status " + service + "`" : r.error().hint));
    }
  }

  // Moves the held requests on by the service's state now.
  void Settle(const std::string& client = {}, const std::string& target = {}) {
    if (closed || held.empty()) return;
    const auto v = Look();
    if (!v) {
      AnswerAll(Unavailable(kRetryAfterFailedS, service + " is no longer configured",
                            "the daemon's config was reloaded without it"));
      return;
    }
    switch (v->state) {
      case ServicePort::State::kRunning: {
        std::vector<std::uint64_t> go;
        for (auto& [id, h] : held) {
          if (Admit(id, h.upgrade)) go.push_back(id);
        }
        for (std::uint64_t id : go) {
          auto node = held.extract(id);
          node.mapped().release(std::nullopt);
        }
        start_pending = false;
        if (held.empty()) starts_this_wait = 0;
        return;
      }
      case ServicePort::State::kStopped:
        // A start asked for and not begun yet (the supervisor runs it on a later turn): wait.
        if (!start_pending) AskStart(client, target);
        return;
      case ServicePort::State::kFailed:
        if (start_pending) return;
        if (starts_this_wait == 0) {
          AskStart(client, target);  // failed before anyone asked: one more try for this request
        } else {
          AnswerAll(Unavailable(kRetryAfterFailedS, service + " failed to start: " + v->detail,
                                "see `vramguard events --service " + service + "`"));
        }
        return;
      default:
        // Starting, waiting for VRAM, stopping, backing off: the start (if one was asked for)
        // has begun; its next event says more.
        start_pending = false;
        return;
    }
  }

  void ArmTimer() {
    if (held.empty() || timer_armed) return;
    auto first = std::min_element(held.begin(), held.end(), [](const auto& a, const auto& b) {
      return a.second.deadline < b.second.deadline;
    });
    timer_armed = true;
    timer.expires_at(first->second.deadline);
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self) return;
      self->timer_armed = false;
      if (ec || self->closed) return;
      self->Expire();
    });
  }

  void Expire() {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> late;
    for (auto& [id, h] : held) {
      if (h.deadline <= now) late.push_back(id);
    }
    const auto v = Look();
    const std::string state = v ? ServiceStateName(v->state) : "gone";
    for (std::uint64_t id : late) {
      auto node = held.extract(id);
      node.mapped().release(Unavailable(
          kRetryAfterTimeoutS,
          service + " was not ready within " + FormatSeconds(spec.hold_timeout) + " (it is " +
              state + (v && !v->detail.empty() ? ": " + v->detail : std::string()) + ")",
          "try again shortly; `vramguard status " + service + "` shows what it waits for"));
    }
    if (held.empty()) starts_this_wait = 0;
    ArmTimer();
  }
};

DoorPolicy::DoorPolicy(asio::io_context& io, ServicePort& port, EventHub& events,
                       std::string service, const ProxySpec& spec)
    : state_(std::make_shared<State>(io, port, events, std::move(service), spec)) {
  state_->subscription =
      events.Subscribe([weak = std::weak_ptr<State>(state_)](const EventRecord& e) {
        auto self = weak.lock();
        if (!self || e.service != self->service || self->held.empty()) return;
        // After the supervisor has applied the change the event announces.
        asio::post(self->io, [weak] {
          if (auto s = weak.lock()) s->Settle();
        });
      });
}

DoorPolicy::~DoorPolicy() { Close(); }

void DoorPolicy::Close() {
  State& s = *state_;
  if (s.closed) return;
  s.closed = true;
  s.events.Unsubscribe(s.subscription);
  s.timer.cancel();
  for (std::size_t i = 0; i < s.counted.size(); ++i) s.port.EndJob(s.service);
  s.counted.clear();
  s.held.clear();  // their connections end with the proxy
}

ProxyVerdict DoorPolicy::Decide(const ProxyRequestHead& head, ProxyRelease release) {
  State& s = *state_;
  if (s.closed) {
    return ProxyVerdict::Answer(
        Unavailable(kRetryAfterFailedS, "the daemon is stopping", "try again once it is back"));
  }
  const auto v = s.Look();
  if (!v) {
    return ProxyVerdict::Answer(Unavailable(kRetryAfterFailedS,
                                            s.service + " is no longer configured",
                                            "the daemon's config was reloaded without it"));
  }
  // Nothing waits ahead of it: straight through while the service runs.
  if (s.held.empty() && v->state == ServicePort::State::kRunning && s.Admit(head.id, head.upgrade))
    return ProxyVerdict::Forward();
  if (!s.spec.start_on_demand) {
    return ProxyVerdict::Answer(
        Unavailable(kRetryAfterFailedS,
                    s.service + " is " + ServiceStateName(v->state) +
                        (v->detail.empty() ? std::string() : ": " + v->detail),
                    "start it with `vramguard start " + s.service +
                        "` (or set start_on_demand = true in its [service.proxy])"));
  }
  s.held.emplace(head.id,
                 State::Held{std::move(release),
                             std::chrono::steady_clock::now() + s.spec.hold_timeout, head.upgrade});
  s.ArmTimer();
  // Settled after this head is held (a release never resumes inside Decide's caller).
  asio::post(s.io,
             [weak = std::weak_ptr<State>(state_), client = head.client, target = head.target] {
               if (auto self = weak.lock()) self->Settle(client, target);
             });
  return ProxyVerdict::Hold();
}

void DoorPolicy::OnRequestEnd(const ProxyRequestHead& head, const ProxyRequestEnd& /*end*/) {
  State& s = *state_;
  if (s.closed) return;
  s.held.erase(head.id);  // a client that left while held
  if (s.counted.erase(head.id) > 0) s.port.EndJob(s.service);
  if (s.held.empty()) s.starts_this_wait = 0;
}

std::size_t DoorPolicy::held() const { return state_->held.size(); }
std::size_t DoorPolicy::counted() const { return state_->counted.size(); }
std::uint64_t DoorPolicy::starts() const { return state_->starts; }

}  // namespace vg
