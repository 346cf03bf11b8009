// The job manager's back half: starting services for jobs, dispatching, sampling the service's
// VRAM while a job runs (peak − resident baseline, exact or censored), OOM events as at-least
// observations, terminal states, idle unload and swap.
#include <algorithm>

#include "daemon/job_manager_impl.h"
#include "daemon/spawn_logged.h"
#include "util/json_limits.h"

namespace vg {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxAnswer = 1u << 20;  // the service's answer kept as the result
constexpr Bytes kNoise = Bytes::MiB(2);       // one allocator block: not a rise
constexpr auto kSampleEvery = 50ms;           // ≤ 100 ms (issue 5)

// A byte count from an incident (fields may be null or absent: the line did not say).
std::optional<Bytes> BytesField(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_integer()) return std::nullopt;
  std::int64_t v = j[key].get<std::int64_t>();
  return v >= 0 ? std::optional<Bytes>(Bytes(static_cast<std::uint64_t>(v))) : std::nullopt;
}

// Whether an `oom` event of the job's service is the job's own: from the instance it runs on
// (not the kernel log's device-wide messages, which carry no process), and — when the OOM line
// lists the GPU's processes, as PyTorch's does (the failing one among them) — with a member of
// the service among them. Otherwise another process ran out of memory: not this job's need.
bool OwnOom(const EventRecord& e, const json& inc, const ActiveJob& job) {
  if (job.state != JobState::kRunning || e.instance.empty() || e.instance != job.instance)
    return false;
  if (inc.is_object() && inc.value("engine", "") == "nvidia-driver") return false;
  // "…this process has 8.5 GiB memory in use": the process that failed wrote the line into this
  // instance's log and reported itself; the pids PyTorch lists beside it are the GPU's *other*
  // processes, so they say nothing against it.
  if (inc.is_object() && inc.contains("process_bytes") && inc["process_bytes"].is_number())
    return true;
  if (!inc.is_object() || !inc.contains("processes") || !inc["processes"].is_array() ||
      inc["processes"].empty() || job.members.empty())
    return true;
  for (const json& p : inc["processes"]) {
    if (!p.is_object() || !p.contains("pid") || !p["pid"].is_number_integer()) continue;
    const auto pid = static_cast<pid_t>(p["pid"].get<std::int64_t>());
    if (std::find(job.members.begin(), job.members.end(), pid) != job.members.end()) return true;
  }
  return false;
}

// A supervisor event saying the service is `failed` (port held, start failed, VRAM timeout,
// restart limit, …): its start for the waiting jobs will not come.
bool StartGaveUp(const EventRecord& e) {
  if (e.kind.starts_with("job-") || !e.data.is_object()) return false;
  return e.data.contains("state") && e.data["state"] == "failed";
}

bool EndsInstance(const std::string& kind) {
  return kind == "stopped" || kind == "stop-incomplete" || kind == "crashed" || kind == "exited" ||
         kind == "failed" || kind == "vram-timeout" || kind == "start-failed" ||
         kind == "ready-timeout";
}

}  // namespace

bool JobManager::Impl::HasJobs(const std::string& service) const {
  return std::any_of(active.begin(), active.end(),
                     [&](const auto& entry) { return entry.second->service == service; });
}

void JobManager::Impl::Spawn(JobTask t) { SpawnLogged(io, std::move(t), events, "a job"); }

void JobManager::Impl::OnEvent(const EventRecord& e) {
  if (shutting_down || e.service.empty()) return;
  if (!JobService(e.service)) {
    // A service without jobs may still be unloaded when idle (its proxy's requests are its work):
    // once it runs, its idle clock needs the short tick.
    if (e.kind == "ready" || e.kind == "adopted") asio::post(io, [this] { RetuneTick(); });
    return;
  }
  ServiceJobs& sj = svcs[e.service];
  if (e.kind == "job-done") ++sj.done_since_start;
  if (e.kind == "job-failed") ++sj.failed_since_start;
  if (e.kind == "ready" || e.kind == "adopted") {
    sj.stopping = false;
    if (auto v = port.Look(e.service); v && v->startup) sj.startup = v->startup;
    asio::post(io, [this, name = e.service] {
      MeasureBaseline(name);
      DispatchWaiting(name);
      PostReplan();
      RetuneTick();  // an idle_unload service runs now: its idle clock needs the 1 s tick
    });
    return;
  }
  if (e.kind == "oom") {
    // An OOM while jobs of the service run: the job needed more than it could get.
    json inc = e.data.is_object() && e.data.contains("incident") ? e.data["incident"] : json();
    const Bytes requested = BytesField(inc, "requested_bytes").value_or(Bytes(0));
    for (auto& [id, j] : active) {
      if (j->service != e.service || j->oom || !OwnOom(e, inc, *j)) continue;
      j->oom =
          e.data.is_object() && e.data.contains("explanation") && e.data["explanation"].is_string()
              ? e.data["explanation"].get<std::string>()
              : e.message;
      // What the process held when it failed, plus what it asked for: the job needed more.
      Bytes held = BytesField(inc, "process_bytes").value_or(std::max(j->peak, j->before));
      Bytes base = sj.baseline.count() ? sj.baseline : j->before;
      Bytes at_least = held + requested - base;
      if (at_least.count() > 0) {
        planner.Observe(j->service, j->params, at_least, PeakKind::kAtLeast);
        (void)store.RecordObservation(j->id, at_least, PeakObservation::kAtLeast);
      }
    }
    return;
  }
  const bool gave_up = StartGaveUp(e) && StateOf(e.service) == ServicePort::State::kFailed;
  if (!gave_up && !EndsInstance(e.kind)) return;
  if (EndsInstance(e.kind)) {
    sj.stopping = false;
    sj.releasing = false;
    sj.members.clear();
    sj.members_at.reset();
    sj.idle_since.reset();
  }
  {
    // Jobs admitted for this service but not dispatched: start it (again), or give up with the
    // service's cause.
    std::vector<JobId> waiting;
    for (auto& [id, j] : active)
      if (j->service == e.service && !j->dispatched) waiting.push_back(id);
    if (!waiting.empty()) {
      if (gave_up) {
        for (JobId id : waiting) {
          JobChange change;
          change.reason = e.service + " could not be started: " + e.message;
          change.finished_unix_ms = NowMs();
          auto t = store.Transition(id, {JobState::kStarting}, JobState::kFailed, change);
          active.erase(id);
          if (t && t->applied)
            Emit(e.service, "job-failed",
                 "job " + std::to_string(id) + " failed: " + *change.reason,
                 {{"job", id}, {"reason", *change.reason}});
        }
      } else if (e.kind == "stopped" || e.kind == "stop-incomplete") {
        asio::post(io, [this, name = e.service] { EnsureStarted(name); });
      }
    }
    PostReplan();
  }
}

void JobManager::Impl::EnsureStarted(const std::string& service) {
  const ServicePort::State st = StateOf(service);
  if (st == ServicePort::State::kStopped || st == ServicePort::State::kFailed) {
    (void)port.Start(service);
  }
  // starting / waiting-for-vram / backoff: its ready event dispatches; stopping: its stopped
  // event comes back here.
}

void JobManager::Impl::DispatchWaiting(const std::string& service) {
  if (StateOf(service) != ServicePort::State::kRunning) return;
  for (auto& [id, j] : active) {
    if (j->service != service || j->dispatched) continue;
    j->dispatched = true;
    Spawn(RunJob(j));
  }
}

void JobManager::Impl::MeasureBaseline(const std::string& service) {
  const ServiceConfig* cfg = JobService(service);
  auto v = port.Look(service);
  if (!cfg || !v || v->instance.empty()) return;
  for (auto& [id, j] : active)
    if (j->service == service && j->dispatched) return;  // busy: not a baseline
  RefreshMembers(true);
  const vg::GpuSnapshot* sn = Snapshot(true);
  if (!sn) return;
  ServiceJobs& sj = svcs[service];
  Bytes most;
  for (unsigned g : GpusOf(*cfg, *sn)) most = std::max(most, HeldOn(sj.members, g, *sn));
  if (most.count() == 0) return;
  if (sj.baseline.count() == 0 || most < sj.baseline) sj.baseline = most;
  if (!sj.idle_since) sj.idle_since = clock.Now();
}

JobTask JobManager::Impl::RunJob(std::shared_ptr<ActiveJob> job) {
  const ServiceConfig* cfg = JobService(job->service);
  if (!cfg || shutting_down) co_return;
  // What the dispatch needs, copied: a reload may replace the config while the job runs.
  const JobsConfig jobs_cfg = cfg->jobs;
  if (!port.BeginJob(job->service)) {
    // The service is no longer running (a stop won the race): the job waits for the next start.
    job->dispatched = false;
    EnsureStarted(job->service);
    co_return;
  }
  JobChange change;
  change.started_unix_ms = NowMs();
  change.reason = "";
  auto t = store.Transition(job->id, {JobState::kStarting}, JobState::kRunning, change);
  if (!t || !t->applied) {
    port.EndJob(job->service);
    active.erase(job->id);
    co_return;
  }
  job->state = JobState::kRunning;
  job->started = clock.Now();
  if (auto v = port.Look(job->service)) job->instance = v->instance;
  ServiceJobs& sj = svcs[job->service];
  sj.idle_since.reset();
  // Who the service is and what it holds on the job's GPU before the job.
  RefreshMembers(true);
  job->members = sj.members;
  if (const vg::GpuSnapshot* sn = Snapshot(true)) job->before = HeldOn(job->members, job->gpu, *sn);
  job->peak = job->before;
  bool others = false;
  for (auto& [id, j] : active) {
    if (id != job->id && j->service == job->service && j->state == JobState::kRunning) {
      j->overlapped = true;
      others = true;
    }
  }
  job->overlapped = others;
  if (!others && job->before.count() > 0 && (sj.baseline.count() == 0 || job->before < sj.baseline))
    sj.baseline = job->before;
  Emit(job->service, "job-started",
       "job " + std::to_string(job->id) + " started on GPU " + std::to_string(job->gpu) + ": " +
           planner.Describe(job->service, job->params) + ", estimate ~" +
           FormatBytes(job->estimate),
       {{"job", job->id},
        {"gpu", job->gpu},
        {"estimate_bytes", job->estimate.count()},
        {"waited_s", static_cast<double>(std::max<std::int64_t>(
                         0, *change.started_unix_ms - t->job.submitted_unix_ms)) /
                         1000.0}});
  Spawn(Sample(job));
  DispatchResult r;
  if (auto d = door_waiting.find(job->id); d != door_waiting.end()) {
    // A request the service's proxy holds: it goes now, and its end is the job's.
    job->door = d->second;
    door_waiting.erase(d);
    r = co_await RunDoorJob(job, jobs_cfg.timeout);
  } else if (job->origin == JobOrigin::kDoor) {
    // Its client is gone (the ticket was dropped): nothing to forward, nothing to POST.
    r.error = "its client left before it could run";
  } else {
    job->dispatch = std::make_shared<JobDispatch>(io);
    r = co_await job->dispatch->Send(jobs_cfg.method, jobs_cfg.url, job->body, jobs_cfg.timeout,
                                     kMaxAnswer);
  }
  job->finished = true;
  // One last sample: the peak may have come just before the answer.
  if (const vg::GpuSnapshot* sn = Snapshot(true))
    job->peak = std::max(job->peak, HeldOn(job->members, job->gpu, *sn));
  port.EndJob(job->service);
  if (!shutting_down) Finish(*job, r);
  active.erase(job->id);
  if (!HasJobs(job->service)) sj.idle_since = clock.Now();
  PostReplan();
}

JobTask JobManager::Impl::Sample(std::shared_ptr<ActiveJob> job) {
  asio::steady_timer timer(io);
  while (!job->finished && !shutting_down) {
    timer.expires_after(kSampleEvery);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (job->finished || !gpu) break;
    // The shared reading (≤ 20 ms old): concurrent jobs share one driver call per period
    // instead of one each.
    const vg::GpuSnapshot* sn = Snapshot(false);
    if (!sn) continue;
    Bytes now = HeldOn(job->members, job->gpu, *sn);
    job->last = now;
    ++job->samples;
    if (now > job->peak) job->peak = now;
    if (job->peak - job->before >= job->estimate) job->at_peak = true;
  }
}

void JobManager::Impl::Finish(ActiveJob& job, const DispatchResult& r) {
  ServiceJobs& sj = svcs[job.service];
  const std::string id = std::to_string(job.id);
  // What the job needed, as far as the samples can tell (docs/gpu-facts.md: the caching allocator).
  Bytes base = sj.baseline.count() ? sj.baseline : job.before;
  std::optional<std::pair<Bytes, PeakKind>> obs;
  if (!job.oom) {
    if (job.overlapped) {
      obs = {job.peak - base, PeakKind::kAtMost};
    } else if (job.peak > job.before + kNoise) {
      obs = {job.peak - base, PeakKind::kExact};
    } else {
      obs = {job.before - base, PeakKind::kAtMost};
    }
    if (obs->first < Bytes::MiB(1)) obs.reset();
  }
  const bool ok = r.status >= 200 && r.status < 300;
  if (obs && ok) planner.Observe(job.service, job.params, obs->first, obs->second);
  // An OOM the service reported in its answer (no `oom` incident came first): the job needed
  // more than it held plus what it tried to allocate — an at-least observation.
  if (!ok && !job.oom && !job.cancel_requested && !r.aborted) {
    if (std::optional<Bytes> tried = TriedToAllocate(r.body)) {
      Bytes held = std::max(job.peak, job.before);
      Bytes at_least = held + *tried - base;
      if (at_least.count() > 0) {
        planner.Observe(job.service, job.params, at_least, PeakKind::kAtLeast);
        (void)store.RecordObservation(job.id, at_least, PeakObservation::kAtLeast);
      }
      job.oom = "the service ran out of memory (tried to allocate " + FormatBytes(*tried) +
                " more; the job needs at least " + FormatBytes(at_least) + ")";
      obs.reset();
    }
  }
  if (obs) {
    (void)store.RecordObservation(
        job.id, obs->first,
        obs->second == PeakKind::kExact ? PeakObservation::kExact : PeakObservation::kAtMost);
  }
  json result;
  if (!r.body.empty()) {
    // A service's answer is hostile input too: nested too deep, it is kept as text (dumping it
    // later would recurse once per level).
    if (JsonNestingWithin(r.body, kMaxJsonDepth)) result = json::parse(r.body, nullptr, false);
    if (result.is_discarded() || result.is_null()) result = json(r.body);
  }
  JobChange change;
  change.finished_unix_ms = NowMs();
  JobState to;
  std::string kind, message;
  if (job.cancel_requested || r.aborted) {
    to = JobState::kCancelled;
    change.reason = "cancelled while running (the service may still have finished the work)";
    kind = "job-cancelled";
    message = "job " + id + " cancelled while running";
  } else if (ok) {
    to = JobState::kDone;
    change.result = result;
    kind = "job-done";
    message = "job " + id + " done in " + FormatSeconds(clock.Now() - *job.started);
    planner.RecordDuration(job.service,
                           std::chrono::duration_cast<Millis>(clock.Now() - *job.started));
  } else {
    to = JobState::kFailed;
    std::string why;
    if (job.oom) {
      why = "out of memory: " + *job.oom;
    } else if (r.status) {
      why = "the service answered " + std::to_string(r.status);
      if (result.is_object() && result.contains("error") && result["error"].is_string())
        why += ": " + result["error"].get<std::string>();
    } else {
      why = "no answer from the service: " + r.error;
    }
    if (!job.oom && result.is_object() && result.contains("error") &&
        result["error"] == "CUDA out of memory")
      why = "out of memory (the service answered " + std::to_string(r.status) + ")";
    change.reason = why;
    if (!result.is_null()) change.result = result;
    kind = "job-failed";
    message = "job " + id + " failed: " + why;
  }
  if (change.result && change.result->dump().size() > kMaxJobResultBytes)
    change.result = json{{"truncated", true}};
  json data = {
      {"job", job.id}, {"estimate_bytes", job.estimate.count()}, {"state", JobStateName(to)}};
  if (job.started) data["run_s"] = ToSeconds(clock.Now() - *job.started);
  if (obs) {
    data["observed_peak_bytes"] = obs->first.count();
    data["observation"] = obs->second == PeakKind::kExact ? "exact" : "at-most";
    message += " (estimate ~" + FormatBytes(job.estimate) + ", observed " +
               (obs->second == PeakKind::kExact ? "" : "at most ") + FormatBytes(obs->first) + ")";
  }
  if (change.reason) data["reason"] = *change.reason;
  auto t = store.Transition(job.id, {JobState::kRunning}, to, change);
  if (!t) {
    // A full or failing disk must not leave the job `running` for good: its end is kept here and
    // written as soon as the store takes it (the event with it).
    events.Log("warning: job " + id + " could not be recorded (" + t.error().message +
               "); retrying every second");
    Spawn(RecordEndLater(job.id, job.service, to, std::move(change), kind, message, data));
    return;
  }
  Emit(job.service, kind, message, data);
}

JobTask JobManager::Impl::RecordEndLater(JobId id, std::string service, JobState to,
                                         JobChange change, std::string kind, std::string message,
                                         json data) {
  asio::steady_timer timer(io);
  while (!shutting_down) {
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (shutting_down) co_return;  // recovery after the restart ends it (interrupted)
    if (store.Transition(id, {JobState::kRunning}, to, change)) {
      Emit(service, kind, message, data);
      PostReplan();
      co_return;
    }
  }
}

// Stops an idle service (verified by the supervisor's stop sequence) — never one with jobs.
void JobManager::Impl::StopIdle(const std::string& service, const std::string& kind,
                                const std::string& why) {
  ServiceJobs& sj = svcs[service];
  if (sj.stopping || HasJobs(service)) return;
  // The event first: it names the instance being stopped.
  auto v = port.Look(service);
  if (!v || v->instance.empty() || v->active_jobs > 0 || v->state == ServicePort::State::kStopping)
    return;
  Emit(service, kind, why, {{"held_bytes", sj.baseline.count()}});
  if (port.StopIfIdle(service)) sj.stopping = true;
}

void JobManager::Impl::CheckIdle() {
  const SteadyTime now = clock.Now();
  for (const std::string& name : port.Services()) {
    const ServiceConfig* cfg = port.ConfigOf(name);
    auto v = port.Look(name);
    if (!cfg || !v || !cfg->idle_unload || v->state != ServicePort::State::kRunning) continue;
    ServiceJobs& sj = svcs[name];
    if (v->active_jobs > 0) {
      // Work counted on it (a job, or a request through its proxy, daemon/door.h): the idle
      // clock starts again when the last of it ends.
      sj.idle_since = now;
      continue;
    }
    if (sj.stopping || sj.queued > 0 || HasJobs(name)) continue;
    if (!sj.idle_since) {
      sj.idle_since = now;
      continue;
    }
    if (now - *sj.idle_since >= *cfg->idle_unload)
      StopIdle(name, "idle-unload",
               "stopping " + name + ": no jobs for " + FormatSeconds(*cfg->idle_unload) +
                   " (idle_unload)");
  }
}

// Terminal jobs past the store's retention go (at boot, then every 10 minutes); never a queued or
// running one.
void JobManager::Impl::Prune() {
  const SteadyTime now = clock.Now();
  if (pruned_at && now - *pruned_at < std::chrono::minutes(10)) return;
  pruned_at = now;
  auto n = store.Prune(NowMs(), JobRetention{});
  if (!n) {
    events.Log("warning: pruning old jobs failed: " + n.error().message);
  } else if (*n > 0) {
    events.Log("pruned " + std::to_string(*n) + " finished job(s) past retention");
  }
}

void JobManager::Impl::Tick() {
  if (shutting_down || !ticker) return;
  CheckIdle();
  Prune();
  if (planner.Queued() > 0) Replan();  // memory may have been freed by anyone
  ArmTick(NextTick());
}

// The poll interval while jobs wait (memory may be freed by anyone, the driver is the only one
// to ask); a quarter of idle_unload (at most a second) while a service could be unloaded for
// idleness; otherwise once a minute, for pruning. An idle daemon wakes once a minute, not ten
// times a second.
Millis JobManager::Impl::NextTick() {
  const Millis poll = std::max<Millis>(port.Daemon().poll, Millis(10));
  if (planner.Queued() > 0) return poll;
  Millis next = std::max(poll, Millis(60000));
  for (const std::string& name : port.Services()) {
    const ServiceConfig* cfg = port.ConfigOf(name);
    auto v = port.Look(name);
    if (cfg && cfg->idle_unload && v && v->state == ServicePort::State::kRunning) {
      // A quarter of idle_unload, at most a second: the unload comes that late at worst.
      next = std::min(next, std::max(poll, std::min(Millis(1000), *cfg->idle_unload / 4)));
    }
  }
  return next;
}

void JobManager::Impl::ArmTick(Millis in) {
  tick_due = std::chrono::steady_clock::now() + in;
  ticker->expires_after(in);  // cancels a pending wait: its handler sees operation_aborted
  ticker->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Tick();
  });
}

void JobManager::Impl::RetuneTick() {
  if (shutting_down || !ticker) return;
  const Millis next = NextTick();
  if (tick_due <= std::chrono::steady_clock::now() + next) return;
  ArmTick(next);
}

}  // namespace vg
