// FleetAgent: this daemon as one host of a fleet sharing job queues on Redis Streams
// (docs/fleet.md). On the daemon's io_context it decides — what to pull (fleet::ClassesToRead
// over the JobManager's own ledger), what to submit, what to renew — and a worker thread of its
// own makes the blocking FleetStore calls, so the io thread never waits for Redis. Results come
// back to the io thread with asio::post.
//
// What it does, one cycle at a time (at most one in flight; every 100 ms while Redis answers,
// after fleet::ReconnectDelay while it does not):
//   - boot: this host's own pending entries first (XREADGROUP 0), matched to local jobs by the
//     idempotency key "fleet:<job>" (finished ones acknowledged, the rest run or waited for);
//   - heartbeat (lease/3): vg:host:<host> with GPUs, per-service capacity, running and queued,
//     expiring after a lease; the other hosts' records are read back (submission limits);
//   - pull by budget: for each job service with nothing queued here, the next entry of the
//     largest size class the ledger would admit now; the entry becomes a local job;
//   - renew (lease/3) the entries of local jobs still running (XCLAIM JUSTID); a lost one
//     cancels the local job (another host has it now);
//   - take over (lease/2) entries idle for a lease: idempotent jobs run here, others end
//     `failed: host lost` (vg:job:<id>), over max_deliveries to vg:dead;
//   - a local job of a fleet entry that ends: XACK + XDEL, its vg:job:<id> record updated.
// Submissions (POST /v1/jobs in fleet mode) are refused at once when no registered host can hold
// the job (with suggestions against the largest one) or when Redis is unreachable (503).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config_types.h"
#include "daemon/job_manager.h"
#include "fleet/fleet_store.h"

namespace boost::asio {
class io_context;
}

namespace vg {

class EventHub;

class FleetAgent {
 public:
  // `store` is used only on the agent's worker thread from Start() on.
  FleetAgent(boost::asio::io_context& io, const FleetConfig& config, JobManager& jobs,
             EventHub& events, std::unique_ptr<fleet::FleetStore> store);
  ~FleetAgent();  // stops and joins the worker
  FleetAgent(const FleetAgent&) = delete;
  FleetAgent& operator=(const FleetAgent&) = delete;

  // After JobManager::Boot: routes submissions to the fleet, recovers this host's own entries,
  // starts the cycles.
  void Start();
  // The daemon is stopping: no new entries are taken; running jobs keep their entries pending
  // (their lease lapses, or this host recovers them when it comes back).
  void Stop();
  // A reload's [fleet] (on the io thread): lease and max_deliveries apply from the next cycle;
  // redis, host, user, password and connect_timeout at the next start. Returns "" or a note
  // saying what waits for a restart (also logged).
  std::string Reconfigure(const FleetConfig& next);
  // GET /v1/fleet: this host, Redis reachable or not, the entries it holds.
  nlohmann::json Status() const;
  // GET /v1/fleet/jobs/{id}: where a fleet job is and how it ended (its vg:job record: host,
  // local id, estimate vs observed, result when small), read from Redis on the agent's thread.
  HandlerResult Job(const std::string& fleet_job);
  // GET /v1/fleet/jobs?limit=N: the records changed last, newest first.
  HandlerResult RecentJobs(std::size_t limit);
  // For /metrics (daemon/metrics.h), from memory.
  struct Figures {
    bool connected = false;
    std::int64_t hosts = 0;    // in the registry as last read (this one included)
    std::int64_t held = 0;     // entries of local jobs this host holds
    std::int64_t unacked = 0;  // ends not yet written to Redis
    std::int64_t pulled = 0, taken_over = 0, host_lost = 0, dead = 0, rerouted = 0;
    std::int64_t submitted = 0;
  };
  Figures Counts() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vg
