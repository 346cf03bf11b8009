// Private to src/daemon: JobManager's state and the coroutines that run jobs (job_manager.cc:
// state, boot, group commit; api_jobs.cc: the API's parsing and answers; job_plan.cc: planning
// and carrying it out; job_recover.cc: recovery on boot; job_run.cc: dispatch, VRAM sampling,
// observations, idle unload and swap). Reaches the supervisor only through its ServicePort
// (daemon/service_port.h). Includes Asio.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "clock/clock.h"
#include "daemon/event_hub.h"
#include "daemon/job_dispatch.h"
#include "daemon/job_manager.h"
#include "daemon/job_planner.h"
#include "daemon/service_port.h"
#include "gpu/gpu_probe.h"
#include "store/job_store.h"

namespace vg {

namespace asio = boost::asio;
using JobTask = asio::awaitable<void>;

// A job between admission and its terminal state.
struct ActiveJob {
  JobId id = 0;
  std::string service;
  nlohmann::json params;
  std::string body;  // what is POSTed to the service
  Bytes estimate;
  unsigned gpu = 0;
  JobState state = JobState::kStarting;  // starting (until dispatched) or running
  SteadyTime admitted{};
  std::optional<SteadyTime> started;
  bool dispatched = false;
  bool finished = false;
  bool cancel_requested = false;
  std::shared_ptr<JobDispatch> dispatch;
  std::string instance;  // the service instance it runs on (its OOM events carry this tag)
  // VRAM of the service's members on `gpu`: before the job, and the highest sample since.
  std::vector<pid_t> members;
  Bytes before;
  Bytes peak;
  Bytes last;  // the latest sample (the job's live use: last − before)
  int samples = 0;
  bool overlapped = false;  // another job of the service ran meanwhile: attribution unsure
  bool at_peak = false;
  std::optional<std::string> oom;  // the OOM event's explanation, when one came
  // A request the service's proxy holds (origin "door"): forwarded instead of dispatched; its
  // end comes from DoorJobEnded (door_result) and wakes door_wait.
  JobOrigin origin = JobOrigin::kApi;
  std::shared_ptr<JobManager::DoorTicket> door;
  std::optional<DispatchResult> door_result;
  std::unique_ptr<asio::steady_timer> door_wait;
};

struct ServiceJobs {
  Bytes baseline;  // the loaded, idle service (min of idle readings); 0: not measured
  std::optional<SteadyTime> idle_since;
  std::optional<Millis> startup;
  bool stopping = false;   // we stopped it (idle unload, swap)
  bool releasing = false;  // its release hook runs for a swap
  std::vector<pid_t> members;
  std::optional<SteadyTime> members_at;
  int queued = 0;  // jobs of it in the queue
  // job-done / job-failed events since the daemon started (`vramguard status`).
  std::int64_t done_since_start = 0;
  std::int64_t failed_since_start = 0;
};

// A submission that passed validation and planning and waits for the next group commit.
struct PendingSubmit {
  JobRecord rec;          // moved into the store batch by FlushSubmits
  nlohmann::json params;  // validated, complete
  PlanEstimate est;
  std::optional<Decision> decision;
  SteadyTime now{};
  std::string instance;
  std::size_t ahead = 0;  // queued jobs of its priority and above when it joined
  Responder respond;
  std::shared_ptr<JobManager::DoorTicket> door;  // a request the proxy holds (SubmitDoor)
};

// A job id as the API and the planner write it ("42"); nullopt: not one.
std::optional<JobId> ParseJobId(const std::string& text);

// A waiting job's ETA in its JSON: eta_s (null: unknown), eta_overdue, eta_basis (what it is made
// of, or why it is unknown).
void AddEta(nlohmann::json& out, const Decision& d, const std::string& service);

struct JobManager::Impl {
  Impl(asio::io_context& io, std::unique_ptr<ServicePort> owned, ServicePort& port,
       EventHub& events, GpuProbe* gpu, JobStore& store);

  asio::io_context& io;
  std::unique_ptr<ServicePort> owned_port;  // set when built over a Supervisor
  ServicePort& port;
  EventHub& events;
  GpuProbe* gpu;
  JobStore& store;
  SystemClock clock;
  JobPlanner planner;
  std::map<JobId, std::shared_ptr<ActiveJob>> active;
  std::set<JobId> admit_failures_logged;  // a store refusal said once per job
  std::map<std::string, ServiceJobs> svcs;
  bool shutting_down = false;
  JobManager::FleetSubmit fleet_submit;  // fleet mode: where valid submissions go
  bool local_submit = false;             // SubmitLocal runs: queue here
  // SubmitDoor runs: the submission is the door's (origin "door", this ticket).
  std::shared_ptr<JobManager::DoorTicket> door_submit;
  // Door jobs not yet forwarded, by id: told when they end before that (EndDoorTicket).
  std::map<JobId, std::shared_ptr<JobManager::DoorTicket>> door_waiting;
  bool replan_posted = false;
  // Group commit: submissions read together share one transaction (FlushSubmits).
  std::vector<std::shared_ptr<PendingSubmit>> pending;
  bool flush_posted = false;
  std::size_t flush_seen = 0;  // pending.size() at the flush's last pass
  int flush_passes = 0;        // passes the flush took so far, at most kMaxFlushPasses
  static constexpr int kMaxFlushPasses = 4;
  int subscription = 0;
  // Idle checks, pruning, and re-plans while jobs wait. Its period follows the work (NextTick):
  // the poll interval only while a job waits for memory anyone may free.
  std::unique_ptr<asio::steady_timer> ticker;
  std::chrono::steady_clock::time_point tick_due{};
  std::optional<vg::GpuSnapshot> snap;  // the driver's last answer
  std::optional<SteadyTime> snap_at;
  std::optional<SteadyTime> pruned_at;  // terminal jobs past retention were last deleted then
  // The store's idle work (a WAL checkpoint) waits for kIdleGap without a submission.
  static constexpr std::chrono::milliseconds kIdleGap{5};
  std::unique_ptr<asio::steady_timer> idle_timer;
  bool idle_armed = false;
  SteadyTime last_flush{};

  std::int64_t NowMs() const;
  // The config of a service that takes jobs now; nullptr: none (unknown, removed, or no jobs).
  const ServiceConfig* JobService(const std::string& name) const;
  // Services that take jobs now, in name order.
  std::vector<std::string> JobServices() const;
  ServicePort::State StateOf(const std::string& name) const;
  std::int64_t Emit(const std::string& service, const std::string& kind, const std::string& message,
                    nlohmann::json data);
  nlohmann::json JobJson(const JobRecord& j);
  nlohmann::json ServiceCounts(const std::string& service);

  // Planning (job_plan.cc; Recover and ReplayObservations: job_recover.cc).
  const vg::GpuSnapshot* Snapshot(bool fresh);
  std::vector<unsigned> GpusOf(const ServiceConfig& s, const vg::GpuSnapshot& snap) const;
  Bytes HeldOn(const std::vector<pid_t>& pids, unsigned gpu_index,
               const vg::GpuSnapshot& snap) const;
  void RefreshMembers(bool force);
  PlanCluster Cluster(bool fresh);
  // fresh: read the driver now (after a change of memory); else a reading ≤ 20 ms old will do.
  void Replan(bool fresh = true);
  void PostReplan();
  void ReplanWithoutDriver();
  void Carry(const Decision& d, std::set<unsigned>* blocked);
  void Admit(JobId id, unsigned gpu_index, Bytes estimate, bool needs_start);
  void FailQueued(JobId id, const std::string& why);
  void Recover();
  void FlushSubmits();
  // After a flush: arm idle_timer when the store has idle work; OnIdle does it after a pause.
  void ScheduleIdleWork();
  void ArmIdle(SteadyTime::duration after);
  void OnIdle();
  std::pair<std::string, nlohmann::json> QueuedEvent(const JobRecord& j, const PendingSubmit& p);
  HttpResponse Accepted(const PendingSubmit& p, const JobRecord& job);
  void ReplayObservations();

  // A door job that ends before it was forwarded: its held request is answered (job_door.cc).
  void EndDoorTicket(JobId id, int status, const std::string& why);
  asio::awaitable<DispatchResult> RunDoorJob(std::shared_ptr<ActiveJob> job, Millis timeout);

  // Running (job_run.cc).
  void OnEvent(const EventRecord& e);
  void DispatchWaiting(const std::string& service);
  JobTask RunJob(std::shared_ptr<ActiveJob> job);
  JobTask Sample(std::shared_ptr<ActiveJob> job);
  void Finish(ActiveJob& job, const DispatchResult& r);
  // Finish's store write failed (disk full): retried every second until it succeeds.
  JobTask RecordEndLater(JobId id, std::string service, JobState to, JobChange change,
                         std::string kind, std::string message, nlohmann::json data);
  void EnsureStarted(const std::string& service);
  void StopIdle(const std::string& service, const std::string& kind, const std::string& why);
  void MeasureBaseline(const std::string& service);
  void Tick();
  void ArmTick(Millis in);
  Millis NextTick();
  void RetuneTick();  // the work changed: tick sooner if NextTick says so
  void CheckIdle();
  void Prune();
  void Spawn(JobTask t);
  bool HasJobs(const std::string& service) const;  // admitted or running (in `active`)
};

}  // namespace vg
