// The job manager's front half: submissions and the API, the cluster snapshot the planner works
// on, carrying out its decisions, and recovery on boot. Running jobs: job_run.cc.
#include "daemon/job_manager.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>

#include "clock/clock.h"
#include "daemon/job_manager_impl.h"

namespace vg {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxSuggestions = 3;
constexpr int kReplayObservations = 1000;  // per service, on boot

std::optional<JobId> ParseId(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  JobId v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

HttpResponse NoSuchJob(const std::string& id) {
  return HttpResponse::Error(404, "no job " + id, "see `vramguard jobs`");
}

// The stored record `id_text` names, or the answer to give when there is none (404, or the
// store's error).
std::expected<JobRecord, HttpResponse> LoadJob(JobStore& store, const std::string& id_text) {
  auto id = ParseId(id_text);
  if (!id) return std::unexpected(NoSuchJob(id_text));
  auto rec = store.Get(*id);
  if (!rec)
    return std::unexpected(rec.error().code == ErrorCode::kNotFound ? NoSuchJob(id_text)
                                                                    : ErrorResponse(rec.error()));
  return std::move(*rec);
}

json Ms(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

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
    out["sampled_peak_bytes"] = (it->second->peak - it->second->before).count();
  }
  if (!j.result.is_null()) out["result"] = j.result;
  return out;
}

json JobManager::Impl::ServiceCounts(const std::string& service) {
  json out = json::object();
  auto counts = store.Counts(service);
  if (!counts) return out;
  for (JobState s : kAllJobStates) out[std::string(JobStateName(s))] = (*counts)[s];
  return out;
}

// ---- The cluster as the planner sees it ------------------------------------------------------

const vg::GpuSnapshot* JobManager::Impl::Snapshot(bool fresh) {
  const SteadyTime now = clock.Now();
  if (!fresh && snap && snap_at && now - *snap_at < std::chrono::milliseconds(20)) return &*snap;
  if (!gpu) return nullptr;
  auto s = gpu->Snapshot();
  if (!s) return snap ? &*snap : nullptr;
  snap = std::move(*s);
  snap_at = now;
  return &*snap;
}

std::vector<unsigned> JobManager::Impl::GpusOf(const ServiceConfig& s,
                                               const vg::GpuSnapshot& sn) const {
  std::vector<unsigned> out;
  if (s.gpus.empty()) {
    for (const GpuInfo& g : sn.gpus) out.push_back(g.index);
    return out;
  }
  for (const GpuSelector& sel : s.gpus) {
    for (const GpuInfo& g : sn.gpus) {
      if ((sel.index && *sel.index == g.index) || (!sel.uuid.empty() && sel.uuid == g.uuid))
        out.push_back(g.index);
    }
  }
  return out;
}

Bytes JobManager::Impl::HeldOn(const std::vector<pid_t>& pids, unsigned gpu_index,
                               const vg::GpuSnapshot& sn) const {
  Bytes sum;
  for (const GpuInfo& g : sn.gpus) {
    if (g.index != gpu_index) continue;
    for (const GpuProcess& p : g.processes) {
      if (p.used && std::find(pids.begin(), pids.end(), static_cast<pid_t>(p.pid)) != pids.end())
        sum += *p.used;
    }
  }
  return sum;
}

// Members of every job service, from one read of the process table; at most once a second
// unless forced (a service started or stopped).
void JobManager::Impl::RefreshMembers(bool force) {
  const SteadyTime now = clock.Now();
  bool need = force;
  const std::vector<std::string> names = JobServices();
  for (const std::string& name : names) {
    ServiceJobs& sj = svcs[name];
    if (!sj.members_at || now - *sj.members_at > std::chrono::seconds(1)) need = true;
  }
  if (!need) return;
  for (auto& [name, members] : port.Members(names)) {
    ServiceJobs& sj = svcs[name];
    sj.members = std::move(members);
    sj.members_at = now;
  }
}

PlanCluster JobManager::Impl::Cluster(bool fresh) {
  PlanCluster c;
  const vg::GpuSnapshot* sn = Snapshot(fresh);
  if (!sn) return c;
  for (const GpuInfo& g : sn->gpus) {
    if (g.problem) continue;
    c.gpus.push_back(PlanGpu{g.index, g.total, g.free, port.Daemon().reserve});
  }
  RefreshMembers(false);
  for (const std::string& name : JobServices()) {
    const ServiceConfig& cfg = *port.ConfigOf(name);
    ServiceJobs& sj = svcs[name];
    PlanService p;
    p.name = name;
    p.gpus = GpusOf(cfg, *sn);
    switch (StateOf(name)) {
      case ServicePort::State::kRunning:
        p.state = sj.stopping ? PlanService::Run::kStopped : PlanService::Run::kRunning;
        break;
      case ServicePort::State::kStarting:
      case ServicePort::State::kWaitingForVram:
        p.state = PlanService::Run::kStarting;
        break;
      default:  // stopping, stopped, backoff, failed: what it holds is the driver's business
        p.state = PlanService::Run::kStopped;
        break;
    }
    for (unsigned g : p.gpus) {
      Bytes h = HeldOn(sj.members, g, *sn);
      if (h.count() > 0) p.held[g] = h;
    }
    p.baseline = sj.baseline;
    for (auto& [id, j] : active) {
      if (j->service != name) continue;
      p.running.push_back(
          PlanRunningJob{std::to_string(id), j->gpu, j->estimate, j->at_peak, j->started});
      if (p.state == PlanService::Run::kStopped) p.state = PlanService::Run::kStarting;
    }
    p.concurrency = static_cast<unsigned>(std::max(1, cfg.jobs.concurrency));
    p.idle_since = sj.idle_since;
    p.startup_time = sj.startup;
    p.start_vram = cfg.vram;
    p.has_release_hook = cfg.stop.release.kind != ReleaseHook::Kind::kNone;
    c.services.push_back(std::move(p));
  }
  return c;
}

// ---- Planning and carrying out ---------------------------------------------------------------

void JobManager::Impl::PostReplan() {
  if (replan_posted || shutting_down) return;
  replan_posted = true;
  asio::post(io, [this] {
    replan_posted = false;
    Replan();
  });
}

void JobManager::Impl::Replan(bool fresh) {
  if (shutting_down || planner.Queued() == 0) return;
  PlanCluster c = Cluster(fresh);
  if (c.gpus.empty()) {
    // No NVIDIA driver at all: nothing can be measured, so jobs run by concurrency alone (the
    // supervisor likewise starts services without a VRAM check). A driver that failed to answer
    // this once: keep waiting.
    if (gpu == nullptr) ReplanWithoutDriver();
    return;
  }
  std::set<unsigned> blocked;
  for (const PlanDecision& d : planner.Plan(c, clock.Now())) Carry(d, &blocked);
}

void JobManager::Impl::ReplanWithoutDriver() {
  for (const std::string& name : JobServices()) {
    std::size_t running = 0;
    for (auto& [id, j] : active)
      if (j->service == name) ++running;
    const std::size_t limit =
        static_cast<std::size_t>(std::max(1, port.ConfigOf(name)->jobs.concurrency));
    if (running >= limit) continue;
    for (auto& [id, estimate] : planner.FirstQueued(name, limit - running)) {
      if (auto n = ParseId(id))
        Admit(*n, 0, estimate, StateOf(name) != ServicePort::State::kRunning);
    }
  }
}

void JobManager::Impl::Carry(const PlanDecision& d, std::set<unsigned>* blocked) {
  auto id = ParseId(d.job_id);
  if (!id) return;
  switch (d.verdict) {
    case PlanVerdict::kWait:
      return;
    case PlanVerdict::kRefuse:
      FailQueued(*id, "can no longer fit: " + d.reason);
      return;
    case PlanVerdict::kAdmit:
    case PlanVerdict::kStartService:
      if (!d.gpu || blocked->count(*d.gpu)) return;
      Admit(*id, *d.gpu, d.need, d.verdict == PlanVerdict::kStartService);
      return;
    case PlanVerdict::kFreeMemory: {
      if (!d.gpu || blocked->count(*d.gpu)) return;
      // Memory is promised but not yet free: nothing else starts on that GPU in this pass.
      blocked->insert(*d.gpu);
      for (const std::string& name : d.release) {
        ServiceJobs& sj = svcs[name];
        if (sj.releasing || sj.stopping) continue;
        sj.releasing = true;
        Emit(name, "swap-out",
             "releasing " + name + "'s cached memory for job " + d.job_id + ": " + d.reason,
             {{"job", *id}, {"action", "release"}});
        // The driver needs a moment to show the memory back; the ticker re-plans at the poll rate.
        port.RunReleaseHook(name, [this, name] {
          svcs[name].releasing = false;
          PostReplan();
        });
      }
      for (const std::string& name : d.stop)
        StopIdle(name, "swap-out",
                 "stopping idle " + name + " to make room for job " + d.job_id + ": " + d.reason);
      return;
    }
  }
}

void JobManager::Impl::Admit(JobId id, unsigned gpu_index, Bytes estimate, bool needs_start) {
  auto rec = store.Get(id);
  if (!rec) {
    planner.Remove(std::to_string(id));
    return;
  }
  JobChange change;
  change.gpu = static_cast<int>(gpu_index);
  change.estimate_bytes = estimate;
  change.reason =
      needs_start ? "starting " + rec->service : "admitted on GPU " + std::to_string(gpu_index);
  auto t = store.Transition(id, {JobState::kQueued}, JobState::kStarting, change);
  planner.Remove(std::to_string(id));
  if (svcs[rec->service].queued > 0) --svcs[rec->service].queued;
  if (!t || !t->applied) return;  // cancelled meanwhile
  auto job = std::make_shared<ActiveJob>();
  job->id = id;
  job->service = rec->service;
  job->params = rec->params;
  json payload = rec->payload.empty() ? json(nullptr) : json::parse(rec->payload, nullptr, false);
  json body;
  if (payload.is_object()) {
    body = payload;
  } else {
    body = json::object();
    if (!payload.is_null() && !payload.is_discarded()) body["payload"] = payload;
  }
  for (auto it = rec->params.begin(); it != rec->params.end(); ++it) body[it.key()] = it.value();
  job->body = body.dump();
  job->estimate = estimate;
  job->gpu = gpu_index;
  job->admitted = clock.Now();
  active[id] = job;
  svcs[rec->service].idle_since.reset();
  if (StateOf(rec->service) == ServicePort::State::kRunning && !svcs[rec->service].stopping) {
    job->dispatched = true;
    Spawn(RunJob(job));
  } else {
    EnsureStarted(rec->service);
  }
}

void JobManager::Impl::FailQueued(JobId id, const std::string& why) {
  JobChange change;
  change.reason = why;
  change.finished_unix_ms = NowMs();
  auto t = store.Transition(id, {JobState::kQueued}, JobState::kFailed, change);
  planner.Remove(std::to_string(id));
  if (t && t->applied) {
    if (svcs[t->job.service].queued > 0) --svcs[t->job.service].queued;
    Emit(t->job.service, "job-failed", "job " + std::to_string(id) + " failed: " + why,
         {{"job", id}, {"reason", why}});
  }
}

void JobManager::Impl::Recover() {
  auto recovered = store.RecoverAfterCrash(NowMs());
  if (!recovered) {
    events.Log("warning: job recovery failed: " + recovered.error().message);
  } else {
    for (const RecoveredJob& r : *recovered) {
      const std::string id = std::to_string(r.job.id);
      if (r.job.state == JobState::kQueued) {
        Emit(r.job.service, "job-queued",
             "job " + id + " re-queued: it was " + std::string(JobStateName(r.was)) +
                 " when the daemon stopped (the service declared jobs idempotent)",
             {{"job", r.job.id}, {"recovered", true}, {"was", JobStateName(r.was)}});
      } else {
        Emit(r.job.service, "job-failed", "job " + id + " failed: " + r.job.reason,
             {{"job", r.job.id}, {"recovered", true}, {"reason", r.job.reason}});
      }
    }
  }
  auto queued = store.Queued("");
  if (!queued) {
    events.Log("warning: cannot read the job queue: " + queued.error().message);
    return;
  }
  const SteadyTime now = clock.Now();
  for (const JobRecord& j : *queued) {
    if (!planner.Has(j.service)) {
      FailQueued(j.id, "service '" + j.service + "' no longer takes jobs");
      continue;
    }
    PlanEstimate e = planner.Estimate(j.service, j.params);
    planner.Enqueue(std::to_string(j.id), j.service, j.priority, static_cast<std::uint64_t>(j.id),
                    now, e.bytes);
    ++svcs[j.service].queued;
  }
}

// What the estimator learned before a restart: the observations stored on jobs, per service the
// newest kReplayObservations, oldest first (the order they were made in).
void JobManager::Impl::ReplayObservations() {
  for (const std::string& name : JobServices()) {
    if (!planner.Has(name)) continue;
    auto jobs = store.Observed(name, kReplayObservations);
    if (!jobs) {
      events.Log("warning: cannot read " + name + "'s job observations: " + jobs.error().message);
      continue;
    }
    int replayed = 0;
    for (const JobRecord& j : *jobs) {
      if (!j.observed_peak_bytes || !j.observation_kind) continue;
      // As learned live: a peak from a job that answered (done), an at-least from an OOM.
      if (j.state != JobState::kDone && *j.observation_kind != PeakObservation::kAtLeast) continue;
      std::string bad;
      auto params = planner.Validate(name, j.params, &bad);  // the schema may have changed
      if (!params) continue;
      const PeakKind kind = *j.observation_kind == PeakObservation::kExact    ? PeakKind::kExact
                            : *j.observation_kind == PeakObservation::kAtMost ? PeakKind::kAtMost
                                                                              : PeakKind::kAtLeast;
      planner.Observe(name, *params, *j.observed_peak_bytes, kind);
      ++replayed;
    }
    if (replayed > 0)
      events.Log(name + ": " + std::to_string(replayed) +
                 " job observation(s) replayed into the estimator");
  }
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
  for (auto& [id, j] : m.active) {
    JobChange change;
    change.reason = "the daemon stopped while it ran";
    (void)m.store.Transition(id, {JobState::kStarting, JobState::kRunning}, JobState::kInterrupted,
                             change);
  }
}

std::size_t JobManager::MaxRequestBody() const {
  std::size_t most = 0;
  for (const std::string& name : impl_->JobServices())
    most = std::max<std::size_t>(most, impl_->port.ConfigOf(name)->jobs.max_payload.count());
  return std::min(most, kMaxJobPayloadBytes) + (std::size_t{1} << 20);
}

HandlerResult JobManager::Submit(const HttpRequest& request) {
  Impl& m = *impl_;
  auto parsed = ParseJsonBody(request);
  if (!parsed) return parsed.error();
  const json& body = *parsed;
  if (!body.is_object())
    return HttpResponse::Error(400, "the body must be a JSON object",
                               R"(send {"service": "NAME", "params": {…}})");
  for (auto it = body.begin(); it != body.end(); ++it) {
    static const std::set<std::string> kKnown = {"service", "params", "payload", "priority",
                                                 "idempotency_key"};
    if (!kKnown.count(it.key()))
      return HttpResponse::Error(400, "unknown field '" + it.key() + "'",
                                 "fields: service, params, payload, priority, idempotency_key");
  }
  if (!body.contains("service") || !body["service"].is_string())
    return HttpResponse::Error(400, "'service' must name a service (a string)");
  const std::string service = body["service"];
  const ServiceConfig* cfg = m.port.ConfigOf(service);
  if (!cfg)
    return HttpResponse::Error(404, "no service named '" + service + "'", "see `vramguard status`");
  if (!cfg->jobs.enabled || !m.planner.Has(service))
    return HttpResponse::Error(404, "service '" + service + "' takes no jobs",
                               "declare jobs = { endpoint = … } for it in the config");
  const json params = body.value("params", json::object());
  if (!params.is_object()) return HttpResponse::Error(400, "'params' must be a JSON object");
  int priority = 0;
  if (body.contains("priority")) {
    if (!body["priority"].is_number_integer() || body["priority"].get<std::int64_t>() < -1000 ||
        body["priority"].get<std::int64_t>() > 1000)
      return HttpResponse::Error(400, "'priority' must be an integer from -1000 to 1000");
    priority = body["priority"].get<int>();
  }
  std::optional<std::string> key;
  if (body.contains("idempotency_key")) {
    if (!body["idempotency_key"].is_string() ||
        body["idempotency_key"].get<std::string>().empty() ||
        body["idempotency_key"].get<std::string>().size() > 256)
      return HttpResponse::Error(400, "'idempotency_key' must be a string of 1 to 256 characters");
    key = body["idempotency_key"].get<std::string>();
    // A known key answers with its job whatever else this request asks (docs/api.md): before
    // the payload, the params and admission, which could refuse what was accepted before.
    auto known = m.store.FindByKey(service, *key);
    if (!known) return ErrorResponse(known.error());
    if (*known) {
      json j = m.JobJson(**known);
      j["duplicate"] = true;
      return HttpResponse::Json(200, j);
    }
  }
  std::string payload;
  if (body.contains("payload") && !body["payload"].is_null()) payload = body["payload"].dump();
  if (payload.size() > cfg->jobs.max_payload.count() || payload.size() > kMaxJobPayloadBytes)
    return HttpResponse::Error(413,
                               "the payload is " + FormatBytes(Bytes(payload.size())) +
                                   ", more than " + service + "'s max_payload of " +
                                   FormatBytes(cfg->jobs.max_payload),
                               "send a smaller payload, or raise jobs.max_payload in the config");
  std::string bad;
  auto valid = m.planner.Validate(service, params, &bad);
  if (!valid) {
    HttpResponse r = HttpResponse::Error(400, valid.error().message, valid.error().hint);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_object() && !bad.empty()) {
      j["parameter"] = bad;
      r.body = j.dump();
    }
    return r;
  }
  PlanEstimate est = m.planner.Estimate(service, *valid);
  const SteadyTime now = m.clock.Now();
  PlanCluster cluster = m.Cluster(false);

  JobRecord rec;
  rec.service = service;
  rec.params = *valid;
  rec.payload = payload;
  rec.priority = priority;
  rec.idempotency_key = key;
  rec.submitted_unix_ms = m.NowMs();
  rec.estimate_bytes = est.bytes;
  rec.idempotent = cfg->jobs.idempotent;

  std::optional<PlanDecision> decision;
  if (!cluster.gpus.empty())
    decision =
        m.planner.Decide(cluster, "", service, priority, ~std::uint64_t{0}, now, est.bytes, now);
  if (decision && decision->verdict == PlanVerdict::kRefuse) {
    auto sugg = m.planner.Suggest(service, *valid, decision->capacity, kMaxSuggestions);
    std::string why =
        m.planner.DescribeRefusal(service, *valid, est.bytes, decision->capacity, sugg);
    if (why.empty()) why = decision->reason;
    rec.state = JobState::kRefused;
    rec.reason = why;
    rec.finished_unix_ms = rec.submitted_unix_ms;
    auto stored = m.store.Submit(rec);
    if (!stored) return ErrorResponse(stored.error());
    json list = json::array();
    for (const PlanSuggestion& p : sugg)
      list.push_back({{"params", p.params}, {"estimate_bytes", p.estimate.count()}});
    if (!stored->duplicate)
      m.Emit(service, "job-refused", "job " + std::to_string(stored->job.id) + " refused: " + why,
             {{"job", stored->job.id},
              {"params", *valid},
              {"estimate_bytes", est.bytes.count()},
              {"capacity_bytes", decision->capacity.count()},
              {"suggestions", list}});
    return HttpResponse::Json(422, {{"error", why},
                                    {"id", stored->job.id},
                                    {"state", JobStateName(stored->job.state)},
                                    {"estimate_bytes", est.bytes.count()},
                                    {"capacity_bytes", decision->capacity.count()},
                                    {"suggestions", list}});
  }
  auto p = std::make_shared<PendingSubmit>();
  p->rec = std::move(rec);
  p->params = *valid;
  p->est = est;
  p->decision = decision;
  p->now = now;
  if (auto v = m.port.Look(service)) p->instance = v->instance;
  Impl* im = impl_.get();
  return DeferredResponse{[im, p](Responder respond) {
    p->respond = std::move(respond);
    im->pending.push_back(p);
    if (!im->flush_posted) {
      im->flush_posted = true;
      // After the handlers of this turn: the requests read meanwhile join the same commit.
      asio::post(im->io, [im] { im->FlushSubmits(); });
    }
  }};
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
  flush_posted = false;
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
    // re-plans at the poll interval anyway).
    if (!p.decision || p.decision->verdict != PlanVerdict::kWait) replan = true;
  }
  if (replan) Replan(/*fresh=*/false);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!answers[i]) answers[i] = Accepted(*batch[i], results[i]->job);
    batch[i]->respond(std::move(*answers[i]));
  }
}

HttpResponse JobManager::Impl::Accepted(const PendingSubmit& p, const JobRecord& job) {
  const std::optional<PlanDecision>& decision = p.decision;
  json out = {{"id", job.id},
              {"state", "queued"},
              {"position", nullptr},
              {"estimate_bytes", p.est.bytes.count()},
              {"estimate_source", p.est.source},
              {"eta_s", nullptr}};
  if (auto it = active.find(job.id); it != active.end()) {
    out["state"] = JobStateName(it->second->state);
    out["gpu"] = it->second->gpu;
  } else if (decision && decision->verdict == PlanVerdict::kWait) {
    out["position"] = p.ahead + 1;  // behind every queued job of its priority and above
    if (decision->eta) out["eta_s"] = ToSeconds(*decision->eta);
  } else if (std::size_t pos = planner.Position(std::to_string(job.id)); pos > 0) {
    out["position"] = pos;
  } else if (auto now_rec = store.Get(job.id)) {
    out["state"] = JobStateName(now_rec->state);
  }
  if (decision && decision->verdict == PlanVerdict::kWait) out["reason"] = decision->reason;
  return HttpResponse::Json(202, out);
}

HttpResponse JobManager::Get(const std::string& id_text) {
  auto rec = LoadJob(impl_->store, id_text);
  if (!rec) return std::move(rec.error());
  json j = impl_->JobJson(*rec);
  if (rec->state == JobState::kQueued && impl_->planner.Position(id_text) > 0) {
    // Why it waits and roughly until when, as the planner sees it now.
    PlanCluster c = impl_->Cluster(false);
    if (!c.gpus.empty()) {
      PlanDecision d = impl_->planner.Decide(
          c, id_text, rec->service, rec->priority, static_cast<std::uint64_t>(rec->id),
          impl_->clock.Now(), rec->estimate_bytes, impl_->clock.Now());
      j["eta_s"] = d.eta ? json(ToSeconds(*d.eta)) : json(nullptr);
      j["waiting_for"] = d.reason;
    }
  }
  return HttpResponse::Json(200, j);
}

HttpResponse JobManager::List(const HttpRequest& r) {
  JobFilter f;
  if (auto it = r.query.find("state"); it != r.query.end() && !it->second.empty()) {
    std::string rest = it->second;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string one = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      auto st = ParseJobState(one);
      if (!st)
        return HttpResponse::Error(400, "unknown job state '" + one + "'",
                                   "states: queued, starting, running, done, failed, cancelled, "
                                   "refused, interrupted");
      f.states.push_back(*st);
    }
  }
  if (auto it = r.query.find("service"); it != r.query.end()) f.service = it->second;
  f.limit = 100;
  if (auto it = r.query.find("limit"); it != r.query.end()) {
    auto v = ParseId(it->second);
    if (!v || *v < 1 || *v > 10000)
      return HttpResponse::Error(400, "'limit' must be a number from 1 to 10000");
    f.limit = static_cast<int>(*v);
  }
  f.newest_first = true;
  if (auto it = r.query.find("after_id"); it != r.query.end()) {
    auto v = ParseId(it->second);
    if (!v) return HttpResponse::Error(400, "'after_id' must be a job id");
    f.after_id = *v;
    f.newest_first = false;
  }
  auto list = impl_->store.List(f);
  if (!list) return ErrorResponse(list.error());
  json jobs = json::array();
  for (const JobRecord& j : *list) jobs.push_back(impl_->JobJson(j));
  json counts = impl_->ServiceCounts(f.service);
  return HttpResponse::Json(200, {{"jobs", jobs}, {"counts", counts}});
}

HttpResponse JobManager::Cancel(const std::string& id_text) {
  Impl& m = *impl_;
  auto rec = LoadJob(m.store, id_text);
  if (!rec) return std::move(rec.error());
  const JobId id = rec->id;
  if (IsTerminal(rec->state))
    return HttpResponse::Error(
        409, "job " + id_text + " is already " + std::string(JobStateName(rec->state)), "");
  auto it = m.active.find(id);
  if (it != m.active.end() && it->second->dispatched) {
    // Running: close the connection; RunJob records the cancellation.
    it->second->cancel_requested = true;
    if (it->second->dispatch) it->second->dispatch->Abort();
    return HttpResponse::Json(202, {{"id", id},
                                    {"state", "running"},
                                    {"cancelling", true},
                                    {"note",
                                     "the connection to the service is closed; the "
                                     "service may still finish the work"}});
  }
  JobChange change;
  change.reason = "cancelled by a client";
  change.finished_unix_ms = m.NowMs();
  auto t = m.store.Transition(id, {JobState::kQueued, JobState::kStarting, JobState::kInterrupted},
                              JobState::kCancelled, change);
  if (!t) return ErrorResponse(t.error());
  if (!t->applied)
    return HttpResponse::Error(
        409, "job " + id_text + " is " + std::string(JobStateName(t->job.state)) + "; try again");
  if (rec->state == JobState::kQueued && m.svcs[rec->service].queued > 0)
    --m.svcs[rec->service].queued;
  m.planner.Remove(id_text);
  m.active.erase(id);
  m.Emit(rec->service, "job-cancelled",
         "job " + id_text + " cancelled while " + std::string(JobStateName(rec->state)),
         {{"job", id}, {"was", JobStateName(rec->state)}});
  m.PostReplan();
  return HttpResponse::Json(200, {{"id", id}, {"state", "cancelled"}});
}

HttpResponse JobManager::ResultOf(const std::string& id_text) {
  auto rec = LoadJob(impl_->store, id_text);
  if (!rec) return std::move(rec.error());
  if (rec->state != JobState::kDone)
    return HttpResponse::Error(
        409,
        "job " + id_text + " is " + std::string(JobStateName(rec->state)) +
            (rec->reason.empty() ? "" : " (" + rec->reason + ")") + "; it has no result",
        IsTerminal(rec->state) ? "" : "wait for it: `vramguard job " + id_text + "`");
  return HttpResponse::Json(200, rec->result);
}

}  // namespace vg
