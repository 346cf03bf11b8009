// The job manager's state and public face: construction over a ServicePort, boot, reconfigure,
// shutdown, the job JSON, and the group commit of submissions (FlushSubmits) with their 202s.
// The API's parsing and error mapping: api_jobs.cc; planning: job_plan.cc; recovery on boot:
// job_recover.cc; running jobs: job_run.cc.
#include "daemon/job_manager.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "clock/clock.h"
#include "daemon/job_manager_impl.h"

namespace vg {

using nlohmann::json;

namespace {

json Ms(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

std::optional<JobId> ParseJobId(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  JobId v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

JobManager::Impl::Impl(asio::io_context& io_, std::unique_ptr<ServicePort> owned,
                       ServicePort& port_, EventHub& events_, GpuProbe* gpu_, JobStore& store_)
    : io(io_),
      owned_port(std::move(owned)),
      port(port_),
      events(events_),
      gpu(gpu_),
      store(store_) {}

std::int64_t JobManager::Impl::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const ServiceConfig* JobManager::Impl::JobService(const std::string& name) const {
  const ServiceConfig* c = port.ConfigOf(name);
  return c && c->jobs.enabled ? c : nullptr;
}

std::vector<std::string> JobManager::Impl::JobServices() const {
  std::vector<std::string> out;
  for (std::string& name : port.Services())
    if (JobService(name)) out.push_back(std::move(name));
  return out;
}

ServicePort::State JobManager::Impl::StateOf(const std::string& name) const {
  auto v = port.Look(name);
  return v ? v->state : ServicePort::State::kStopped;
}

std::int64_t JobManager::Impl::Emit(const std::string& service, const std::string& kind,
                                    const std::string& message, json data) {
  // A door job that ends before its request went on: the held request is answered with why.
  if (!door_waiting.empty() && data.is_object() &&
      (kind == "job-failed" || kind == "job-cancelled" || kind == "job-refused")) {
    if (auto it = data.find("job"); it != data.end() && it->is_number_integer())
      EndDoorTicket(it->get<JobId>(), 503, message);
  }
  auto v = port.Look(service);
  return events.Emit(service, v ? v->instance : "", kind, message, std::move(data));
}

json JobManager::Impl::JobJson(const JobRecord& j) {
  json out = {{"id", j.id},
              {"service", j.service},
              {"state", JobStateName(j.state)},
              {"reason", j.reason},
              {"params", j.params},
              {"priority", j.priority},
              {"idempotency_key", j.idempotency_key ? json(*j.idempotency_key) : json(nullptr)},
              {"payload_bytes", j.payload_bytes},
              {"origin", JobOriginName(j.origin)},
              {"submitted_unix_ms", j.submitted_unix_ms},
              {"started_unix_ms", Ms(j.started_unix_ms)},
              {"finished_unix_ms", Ms(j.finished_unix_ms)},
              {"gpu", j.gpu ? json(*j.gpu) : json(nullptr)},
              {"estimate_bytes", j.estimate_bytes.count()},
              {"observed_peak_bytes",
               j.observed_peak_bytes ? json(j.observed_peak_bytes->count()) : json(nullptr)},
              {"observation",
               j.observation_kind ? json(PeakObservationName(*j.observation_kind)) : json(nullptr)},
              {"attempts", j.attempts},
              {"position", nullptr}};
  if (j.state == JobState::kQueued) {
    std::size_t pos = planner.Position(std::to_string(j.id));
    if (pos > 0) out["position"] = pos;
  }
  if (auto it = active.find(j.id); it != active.end() && it->second->samples > 0) {
    const ActiveJob& a = *it->second;
    out["sampled_peak_bytes"] = (a.peak - a.before).count();
    out["vram_bytes"] = (a.last > a.before ? a.last - a.before : Bytes()).count();
  }
  if (!j.result.is_null()) out["result"] = j.result;
  return out;
}

void AddEta(json& out, const Decision& d, const std::string& service) {
  out["eta_s"] = d.eta ? json(ToSeconds(*d.eta)) : json(nullptr);
  out["eta_overdue"] = d.eta_overdue;
  if (d.eta && d.typical) {
    out["eta_basis"] = fmt::format("median of the last {} {} job{}: {}", d.measured, service,
                                   d.measured == 1 ? "" : "s", FormatSeconds(*d.typical));
  } else if (!d.typical) {
    out["eta_basis"] = "unknown: no " + service + " job has finished since the daemon started";
  } else {
    out["eta_basis"] = "unknown: it waits for memory that no running job will free";
  }
}

json JobManager::Impl::ServiceCounts(const std::string& service) {
  json out = json::object();
  auto counts = store.Counts(service);
  if (!counts) return out;
  for (JobState s : kAllJobStates) out[std::string(JobStateName(s))] = (*counts)[s];
  return out;
}

// ---- Public face -----------------------------------------------------------------------------

JobManager::JobManager(asio::io_context& io, Supervisor& sup, EventHub& events, GpuProbe* gpu,
                       JobStore& store) {
  auto port = MakeServicePort(sup);
  ServicePort& ref = *port;
  impl_ = std::make_unique<Impl>(io, std::move(port), ref, events, gpu, store);
  Init();
}

JobManager::JobManager(asio::io_context& io, ServicePort& port, EventHub& events, GpuProbe* gpu,
                       JobStore& store)
    : impl_(std::make_unique<Impl>(io, nullptr, port, events, gpu, store)) {
  Init();
}

void JobManager::Init() {
  Impl* im = impl_.get();
  im->port.SetJobStatus([im](const std::string& service) {
    json j = im->ServiceCounts(service);
    auto it = im->svcs.find(service);
    if (it != im->svcs.end() && it->second.baseline.count() > 0)
      j["baseline_bytes"] = it->second.baseline.count();
    j["done_since_start"] = it != im->svcs.end() ? it->second.done_since_start : 0;
    j["failed_since_start"] = it != im->svcs.end() ? it->second.failed_since_start : 0;
    return j;
  });
  im->subscription = im->events.Subscribe([im](const EventRecord& e) { im->OnEvent(e); });
}

std::map<std::string, JobManager::LiveCounts> JobManager::Live() const {
  std::map<std::string, LiveCounts> out;
  for (const auto& [name, sj] : impl_->svcs) out[name].queued = std::max(0, sj.queued);
  for (const auto& [id, job] : impl_->active) {
    LiveCounts& c = out[job->service];
    ++(job->state == JobState::kRunning ? c.running : c.starting);
  }
  return out;
}

JobManager::~JobManager() {
  impl_->port.SetJobStatus(nullptr);
  impl_->events.Unsubscribe(impl_->subscription);
}

void JobManager::Reconfigure() {
  for (const std::string& name : impl_->JobServices())
    impl_->planner.Configure(name, impl_->port.ConfigOf(name)->jobs);
  impl_->PostReplan();
}

void JobManager::Boot() {
  Reconfigure();
  impl_->ReplayObservations();  // before Recover queues jobs: their estimates use what was learned
  impl_->Recover();
  impl_->ticker = std::make_unique<asio::steady_timer>(impl_->io);
  impl_->Tick();
  impl_->PostReplan();
}

void JobManager::Shutdown() {
  Impl& m = *impl_;
  m.shutting_down = true;
  // Requests held by the services' proxies: answered now (the daemon will not run them).
  std::map<JobId, std::shared_ptr<DoorTicket>> waiting;
  waiting.swap(m.door_waiting);
  for (auto& [id, t] : waiting)
    t->fail(503, "the daemon is shutting down; send the request again once it is back");
  for (auto& [id, j] : m.active) {
    if (j->door_wait) j->door_wait->cancel();  // RunDoorJob ends the job as interrupted
    JobChange change;
    change.reason = "the daemon stopped while it ran";
    auto marked = m.store.Transition(id, {JobState::kStarting, JobState::kRunning},
                                     JobState::kInterrupted, change);
    // Not fatal: the next daemon's recovery treats a job left starting or running the same way.
    if (!marked)
      m.events.Log("warning: job " + std::to_string(id) +
                   " not marked interrupted: " + marked.error().message);
  }
}

std::size_t JobManager::MaxRequestBody() const {
  std::size_t most = 0;
  for (const std::string& name : impl_->JobServices())
    most = std::max<std::size_t>(most, impl_->port.ConfigOf(name)->jobs.max_payload.count());
  return std::min(most, kMaxJobPayloadBytes) + (std::size_t{1} << 20);
}

// The job-queued event's message and data (written with the job row, or emitted after it when
// the store could not write it in the same transaction).
std::pair<std::string, json> JobManager::Impl::QueuedEvent(const JobRecord& j,
                                                           const PendingSubmit& p) {
  return {"job " + std::to_string(j.id) + " queued: " + planner.Describe(j.service, p.params) +
              ", needs ~" + FormatBytes(p.est.bytes) + " (" + p.est.source + ")",
          {{"job", j.id}, {"params", p.params}, {"estimate_bytes", p.est.bytes.count()}}};
}

// One transaction for every submission pending, then (only then) their 202s: nothing is
// acknowledged before it is durable (docs/state.md).
void JobManager::Impl::FlushSubmits() {
  // Requests that were readable in the same poll of the loop are still being parsed, each a few
  // handlers behind the first: while the batch grew since the last pass, take another pass
  // through the loop's queue (no waiting: only what is already under way joins). A lone
  // submitter pays one pass, a trip through the loop (measured: within the noise).
  if (pending.size() > flush_seen && flush_passes < kMaxFlushPasses) {
    flush_seen = pending.size();
    ++flush_passes;
    asio::post(io, [this] { FlushSubmits(); });
    return;
  }
  flush_posted = false;
  flush_seen = 0;
  flush_passes = 0;
  std::vector<std::shared_ptr<PendingSubmit>> batch;
  batch.swap(pending);
  if (batch.empty()) return;
  std::vector<JobSubmission> subs;
  subs.reserve(batch.size());
  for (const auto& p : batch) {
    // The job row and its job-queued event: one transaction, one commit.
    JobAnnouncer announce = [this, p](const JobRecord& j) -> std::optional<EventRecord> {
      EventRecord e;
      e.time_unix_ms = UnixNowMs();
      e.service = j.service;
      e.instance = p->instance;
      e.kind = "job-queued";
      std::tie(e.message, e.data) = QueuedEvent(j, *p);
      return e;
    };
    // Moved, not copied: the payload (up to max_payload) is not needed here once stored.
    subs.push_back(JobSubmission{.job = std::move(p->rec), .announce = std::move(announce)});
  }
  auto results = store.SubmitBatch(std::move(subs));
  std::vector<std::optional<HttpResponse>> answers(batch.size());
  bool replan = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    PendingSubmit& p = *batch[i];
    if (!results[i]) {
      answers[i] = ErrorResponse(results[i].error());
      continue;
    }
    const JobRecord& job = results[i]->job;
    if (p.door && !results[i]->duplicate) door_waiting[job.id] = p.door;
    if (results[i]->duplicate) {
      json j = JobJson(job);
      j["duplicate"] = true;
      answers[i] = HttpResponse::Json(200, j);
      continue;
    }
    // Behind every queued job of its priority and above (counted before it joins).
    const std::size_t ahead = planner.CountAhead(job.service, job.priority);
    planner.Enqueue(std::to_string(job.id), job.service, job.priority,
                    static_cast<std::uint64_t>(job.id), p.now, p.est.bytes);
    ++svcs[job.service].queued;
    p.ahead = ahead;
    if (results[i]->event) {
      events.Publish(*results[i]->event);
    } else {
      auto [message, data] = QueuedEvent(job, p);
      Emit(job.service, "job-queued", message, std::move(data));
    }
    // A job that must wait changes nothing for the others: no re-plan needed (the ticker
    // re-plans at the poll interval while jobs wait).
    if (!p.decision || p.decision->verdict != Verdict::kWait) replan = true;
  }
  RetuneTick();  // jobs queued now: the ticker polls the driver at the poll rate
  if (replan) Replan(/*fresh=*/false);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!answers[i]) answers[i] = Accepted(*batch[i], results[i]->job);
    batch[i]->respond(std::move(*answers[i]));
  }
  ScheduleIdleWork();
}

// The store's housekeeping (SqliteJobStore: the WAL checkpoint and its fsyncs) is kept out of
// the submissions' commits and done here once they pause (docs/state.md, "Checkpoints"). Under
// a sustained stream it never runs, and the store's own limit checkpoints inside a commit.
void JobManager::Impl::ScheduleIdleWork() {
  last_flush = clock.Now();
  if (idle_armed || shutting_down || !store.IdleWorkDue()) return;
  ArmIdle(kIdleGap);
}

void JobManager::Impl::ArmIdle(SteadyTime::duration after) {
  idle_armed = true;
  if (!idle_timer) idle_timer = std::make_unique<asio::steady_timer>(io);
  idle_timer->expires_after(after);
  idle_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the manager is going away
    idle_armed = false;
    OnIdle();
  });
}

void JobManager::Impl::OnIdle() {
  if (shutting_down) return;
  const SteadyTime::duration quiet = clock.Now() - last_flush;
  if (quiet < kIdleGap) return ArmIdle(kIdleGap - quiet);  // not a pause yet: wait on
  if (auto ok = store.DoIdleWork(); !ok)
    events.Log("warning: store housekeeping failed (tried again after the next submission): " +
               ok.error().message);
}

HttpResponse JobManager::Impl::Accepted(const PendingSubmit& p, const JobRecord& job) {
  const std::optional<Decision>& decision = p.decision;
  json out = {{"id", job.id},
              {"state", "queued"},
              {"position", nullptr},
              {"estimate_bytes", p.est.bytes.count()},
              {"estimate_source", p.est.source},
              {"eta_s", nullptr}};
  if (auto it = active.find(job.id); it != active.end()) {
    out["state"] = JobStateName(it->second->state);
    out["gpu"] = it->second->gpu;
  } else if (decision && decision->verdict == Verdict::kWait) {
    out["position"] = p.ahead + 1;  // behind every queued job of its priority and above
    AddEta(out, *decision, job.service);
  } else if (std::size_t pos = planner.Position(std::to_string(job.id)); pos > 0) {
    out["position"] = pos;
  } else if (auto now_rec = store.Get(job.id)) {
    out["state"] = JobStateName(now_rec->state);
  }
  if (decision && decision->verdict == Verdict::kWait) out["reason"] = decision->reason;
  return HttpResponse::Json(202, out);
}

}  // namespace vg
