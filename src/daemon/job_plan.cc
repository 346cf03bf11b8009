// The job manager's planning: the cluster as the planner sees it (driver snapshot, members of
// the services that take jobs, their state through the ServicePort), re-planning, and carrying
// out the planner's decisions (admit, start the service, free memory, refuse).
#include <algorithm>
#include <chrono>
#include <set>

#include "daemon/job_manager_impl.h"

namespace vg {

using nlohmann::json;

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
    c.gpus.push_back(PlanGpu{g.index, g.usable_total(), g.free, port.Daemon().reserve});
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
  RetuneTick();  // jobs wait: the ticker watches the driver at the poll rate until none do
  PlanCluster c = Cluster(fresh);
  if (c.gpus.empty()) {
    // No NVIDIA driver at all: nothing can be measured, so jobs run by concurrency alone (the
    // supervisor likewise starts services without a VRAM check). A driver that failed to answer
    // this once: keep waiting.
    if (gpu == nullptr) ReplanWithoutDriver();
    return;
  }
  std::set<unsigned> blocked;
  for (const Decision& d : planner.Plan(c, clock.Now())) Carry(d, &blocked);
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
      if (auto n = ParseJobId(id))
        Admit(*n, 0, estimate, StateOf(name) != ServicePort::State::kRunning);
    }
  }
}

void JobManager::Impl::Carry(const Decision& d, std::set<unsigned>* blocked) {
  auto id = ParseJobId(d.job_id);
  if (!id) return;
  switch (d.verdict) {
    case Verdict::kWait:
      return;
    case Verdict::kRefuse:
      FailQueued(*id, "can no longer fit: " + d.reason);
      return;
    case Verdict::kAdmit:
    case Verdict::kStartService:
      if (!d.gpu || blocked->count(*d.gpu)) return;
      Admit(*id, *d.gpu, d.need, d.verdict == Verdict::kStartService);
      return;
    case Verdict::kFreeMemory: {
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
  if (!t) {
    // The store refused (a full disk): the job stays queued, in the store and in the plan, and
    // is admitted at a later plan (chaos finding 10: it used to leave the plan and never run).
    if (admit_failures_logged.insert(id).second)
      events.Log("warning: job " + std::to_string(id) + " could not be admitted now (" +
                 t.error().message + "); it stays queued and is tried again");
    return;
  }
  admit_failures_logged.erase(id);
  planner.Remove(std::to_string(id));
  if (svcs[rec->service].queued > 0) --svcs[rec->service].queued;
  if (!t->applied) return;  // cancelled meanwhile
  auto job = std::make_shared<ActiveJob>();
  job->id = id;
  job->service = rec->service;
  job->params = rec->params;
  job->origin = rec->origin;
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

}  // namespace vg
