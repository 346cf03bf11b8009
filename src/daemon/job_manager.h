// JobManager: the daemon's job queue (docs/jobs.md) — submit → validate → estimate → decide →
// durable record → queue or dispatch; re-planning whenever something changes; VRAM sampling of
// running jobs that teaches the estimator; cancel; recovery after a crash; idle unload and swap.
//
// Runs on the daemon's io_context (single-threaded, like the Supervisor it drives). It reaches
// the supervisor only through a ServicePort (daemon/service_port.h: what it may read, what it may
// ask) and learns what happened from the events. Its API methods answer at once with the HTTP
// response of docs/api.md ("Jobs"). Owns its in-memory state; the JobStore, the Supervisor (or
// port), the EventHub and the GpuProbe outlive it. Asio stays out of this header.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http.h"

namespace boost::asio {
class io_context;
}

namespace vg {

class Supervisor;
class ServicePort;
class EventHub;
class GpuProbe;
class JobStore;

class JobManager {
 public:
  // Over the daemon's supervisor (through its production port).
  JobManager(boost::asio::io_context& io, Supervisor& supervisor, EventHub& events, GpuProbe* gpu,
             JobStore& store);
  // Over any port (unit tests: testing::FakeServicePort).
  JobManager(boost::asio::io_context& io, ServicePort& port, EventHub& events, GpuProbe* gpu,
             JobStore& store);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // After Supervisor::Boot: recover what a killed daemon left (events say what), load the
  // queue, re-plan, and start the poll ticker.
  void Boot();
  // After Supervisor::Reload: services' job interfaces may have changed.
  void Reconfigure();
  // The daemon is stopping: running jobs are marked interrupted (the next boot re-queues the
  // idempotent ones and fails the others); nothing is dispatched any more.
  void Shutdown();

  // Jobs per service now, from memory (no store read): queued, admitted and starting, running.
  struct LiveCounts {
    std::int64_t queued = 0;
    std::int64_t starting = 0;
    std::int64_t running = 0;
  };
  std::map<std::string, LiveCounts> Live() const;

  // The largest request body a submission may need (for the API server's body limit).
  std::size_t MaxRequestBody() const;

  // Errors and refusals at once; an accepted job's 202 after the group commit that stored it
  // (a DeferredResponse): submissions of one event-loop turn share one transaction.
  HandlerResult Submit(const HttpRequest& request);
  HttpResponse Get(const std::string& id);
  HttpResponse List(const HttpRequest& request);
  HttpResponse Cancel(const std::string& id);
  HttpResponse ResultOf(const std::string& id);

  // ---- Fleet mode (daemon/fleet_agent.h, docs/fleet.md) --------------------------------------
  // A submission that passed validation and was sized here, for the fleet's queue.
  struct FleetSubmission {
    std::string service;
    nlohmann::json params;  // validated, complete
    std::string payload;    // JSON text, or ""
    int priority = 0;
    std::optional<std::string> idempotency_key;
    std::uint64_t estimate_bytes = 0;
    bool idempotent = false;  // the service's jobs.idempotent here
  };
  using FleetSubmit = std::function<HandlerResult(FleetSubmission)>;
  // Set: POST /v1/jobs hands each valid submission to `submit` instead of queueing it here.
  void SetFleetSubmit(FleetSubmit submit);
  // A job the fleet gave this host: Submit as the API's, queued here whatever SetFleetSubmit says.
  HandlerResult SubmitLocal(const HttpRequest& request);
  // Would this host's ledger admit a job of `service` needing `bytes` now (admit, or start the
  // service)? False without a driver reading or for a service that takes no jobs.
  bool CouldAdmitNow(const std::string& service, std::uint64_t bytes);
  // The most a job of `service` may need on this host (core's capacity: its largest GPU less the
  // reserve and the service's own memory); 0: it cannot run here.
  std::uint64_t Capacity(const std::string& service);
  // The 422 for a job that fits no host of the fleet, with suggestions against `capacity` (the
  // largest host's, named by `where`).
  HttpResponse RefuseForFleet(const FleetSubmission& s, std::uint64_t capacity,
                              const std::string& where);
  // Services that take jobs now, in name order.
  std::vector<std::string> JobServiceNames() const;
  struct GpuBrief {
    unsigned index = 0;
    std::uint64_t total = 0;  // usable: total less driver-reserved memory
    std::uint64_t free = 0;
  };
  std::vector<GpuBrief> Gpus();  // the driver's last reading (≤ 20 ms old, or read now)

  // ---- The front door (daemon/door.h; docs/proxy.md, "Routes that are jobs") ---------------
  // A request a service's proxy holds as a job. The job manager calls exactly one of the two,
  // at most once: `forward` when the job is admitted and dispatched (the held request goes to
  // the service now), `fail` when it ends before that (cancelled, failed, the daemon stopping).
  struct DoorTicket {
    std::function<void(std::int64_t job)> forward;
    std::function<void(int status, const std::string& why)> fail;
  };
  // Validates, estimates and decides exactly as POST /v1/jobs does, as a job of origin "door"
  // (never idempotent, never handed to the fleet: its client is connected here). `done` gets
  // Submit's answer: 202 (queued or about to run; JSON with id and position), or 400/404/422
  // (with suggestions)/503 — called at once or after the group commit.
  void SubmitDoor(const std::string& service, nlohmann::json params,
                  std::shared_ptr<DoorTicket> ticket, std::function<void(HttpResponse)> done);
  // The forwarded request ended: the service's status (0: none; `error` says why). The job ends
  // done (2xx) or failed, and its observation teaches the estimator as a submitted job's does.
  void DoorJobEnded(std::int64_t id, int status, const std::string& error);
  // The client left before its request was forwarded: the job is cancelled.
  void DoorJobGone(std::int64_t id);

  struct Impl;

 private:
  void Init();  // after impl_ is set: the status summary and the event subscription
  std::unique_ptr<Impl> impl_;
};

// The job endpoints (api_jobs.cc): POST/GET /v1/jobs, GET/DELETE /v1/jobs/{id},
// GET /v1/jobs/{id}/result.
void AddJobRoutes(Router& router, JobManager& jobs);

}  // namespace vg
