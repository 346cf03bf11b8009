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
//  - Routes that are jobs ([[service.proxy.route]], core/door_route.h): such a request's body is
//    read whole (at most `route_body_limit` bytes), its parameters taken from it, and it is
//    submitted to the job queue (DoorJobs) as a job: refused at once when it can never fit (in
//    the route's protocol: generic, OpenAI or Gradio, with the suggested parameters), else held
//    until the queue dispatches it, then forwarded; its end is the job's end. The job queue
//    counts it as work and starts the service when needed. A body that does not satisfy the
//    route's `when` passes through as any request; one that is not JSON is answered 400.
//    Answered requests carry `X-Vramguard-Job` (its id), `X-Vramguard-Queue-Position` (at
//    submission; 0: it went at once) and `X-Vramguard-Queued-Ms`.
//  - A route with ends = "gradio-queue" (Gradio's `…/queue/join`): its job does not end with the
//    answer (which only names the event) but when a `…/queue/data?session_hash=…` stream through
//    the proxy carries that event's `process_completed` (core/gradio_events.h); an event that no
//    stream of its session follows for a minute ends then (the browser left), and a join answered
//    without an event id ends with its answer.
//  - A route with ends = "gradio-ws" (Gradio 3's `GET …/queue/join` WebSocket, AUTOMATIC1111's
//    UI): the upgrade goes to the service as any, and the door looks into the tunnel
//    (core/gradio_ws.h): the client's data message is held and submitted as a job; admitted, it
//    goes on; queued, the client is shown the door's position as Gradio's `estimation`; refused
//    (or still waiting after gradio_ws_hold, under Gradio 3's own 60 s for the data), the client
//    gets a process_completed with the reason and the sizes that fit, and the WebSocket closes.
//    The job ends at the service's process_completed, or when the WebSocket closes.
//  - A route with ends = "comfyui-history" (ComfyUI's `POST /prompt`): its job does not end with
//    the answer (which only names the prompt) but when the service's `GET /history/<prompt_id>`
//    has the prompt (core/comfy_prompt.h), asked every 250 ms: "error" ends it failed; a prompt
//    in neither the history nor `GET /queue` (deleted before it ran) ends; a service that does
//    not answer for 5 s ends it failed; an answer without a prompt id ends it with the answer.
//
// Single-threaded: the daemon's io_context; the port and the event hub outlive it. Asio stays
// out of this header.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <functional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "core/door_route.h"
#include "daemon/job_manager.h"
#include "proxy/proxy.h"

namespace boost::asio {
class io_context;
}

namespace vg {

class ServicePort;
class EventHub;
struct EventRecord;

// What the door needs of the job queue (JobManager's door API; a fake in door_test.cc).
class DoorJobs {
 public:
  virtual ~DoorJobs() = default;
  virtual void Submit(const std::string& service, nlohmann::json params,
                      std::shared_ptr<JobManager::DoorTicket> ticket,
                      std::function<void(HttpResponse)> done) = 0;
  virtual void Ended(std::int64_t job, int status, const std::string& error) = 0;
  virtual void Gone(std::int64_t job) = 0;
};

// The production DoorJobs: the daemon's JobManager.
class JobManagerDoorJobs final : public DoorJobs {
 public:
  explicit JobManagerDoorJobs(JobManager& jobs) : jobs_(jobs) {}
  void Submit(const std::string& service, nlohmann::json params,
              std::shared_ptr<JobManager::DoorTicket> ticket,
              std::function<void(HttpResponse)> done) override {
    jobs_.SubmitDoor(service, std::move(params), std::move(ticket), std::move(done));
  }
  void Ended(std::int64_t job, int status, const std::string& error) override {
    jobs_.DoorJobEnded(job, status, error);
  }
  void Gone(std::int64_t job) override { jobs_.DoorJobGone(job); }

 private:
  JobManager& jobs_;
};

// The door's own answer for a request of `protocol` (docs/proxy.md, "Answers"): generic
// {"error", "hint", …extra}; OpenAI {"error": {"message", "type", "code", "param"}} (a refusal is
// 400, like a context-length error); Gradio {"error", "detail", …extra}. Statuses ≥ 500 carry
// Retry-After (`retry_after_s`).
HttpResponse DoorAnswer(DoorProtocol protocol, int status, const std::string& message,
                        const std::string& hint, const nlohmann::json& extra, int retry_after_s);

class DoorPolicy final : public ProxyPolicy {
 public:
  // `jobs` null: no routes are jobs (the routes are then ignored).
  DoorPolicy(boost::asio::io_context& io, ServicePort& port, EventHub& events, std::string service,
             const ProxySpec& spec, DoorJobs* jobs = nullptr,
             std::size_t route_body_limit = std::size_t{1} << 20);
  ~DoorPolicy() override;
  DoorPolicy(const DoorPolicy&) = delete;
  DoorPolicy& operator=(const DoorPolicy&) = delete;

  // Lets go of the port and the event hub: ends the counted work, unsubscribes, answers nothing
  // more (the proxy that holds the policy may outlive them: its pending handlers die with the
  // io_context). Call it before the port or the hub is destroyed; the destructor does the same.
  void Close();

  ProxyVerdict Decide(const ProxyRequestHead& head, ProxyRelease release) override;
  void OnRequestEnd(const ProxyRequestHead& head, const ProxyRequestEnd& end) override;
  std::size_t InspectBody(const ProxyRequestHead& head) override;
  std::vector<std::pair<std::string, std::string>> ResponseHeaders(
      const ProxyRequestHead& head) override;
  ProxyBodySink WatchResponse(const ProxyRequestHead& head, int status) override;
  std::shared_ptr<ProxyTunnelTap> TapTunnel(const ProxyRequestHead& head) override;

  // How the door asks the service itself (ComfyUI's history): GET `path` on the upstream, the
  // answer's status (0: none), body and whether the body was cut at its limit. Default: HTTP to
  // 127.0.0.1:upstream_port (2 s timeout, 1 MiB of body); tests put a fake in.
  using UpstreamAnswer = std::function<void(int status, std::string body, bool capped)>;
  using UpstreamGet = std::function<void(const std::string& path, UpstreamAnswer answer)>;
  void SetUpstreamGet(UpstreamGet get);

  std::size_t held() const;                    // requests waiting for the service now
  std::size_t counted() const;                 // forwarded requests counted as work on it now
  std::uint64_t starts() const;                // starts the door asked for since it was made
  std::size_t jobs_waiting() const;            // requests submitted as jobs and not forwarded yet
  std::size_t gradio_events_followed() const;  // Gradio queue jobs running after their answer
  std::size_t comfy_prompts_followed() const;  // ComfyUI prompts running after their answer
  std::size_t gradio_ws_followed() const;      // Gradio 3 WebSocket events submitted as jobs

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vg
