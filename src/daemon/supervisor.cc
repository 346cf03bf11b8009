// The supervisor's state and its public face: boot (re-adopt or autostart), operations queued as
// coroutines (lifecycle.cc), status, logs, reload and shutdown.
#include "daemon/supervisor.h"

#include <signal.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "core/instance_tag.h"
#include "core/membership.h"
#include "core/vram_need.h"
#include "daemon/incidents.h"
#include "daemon/supervisor_impl.h"
#include "ops/observe.h"

namespace vg {

const char* SvcStateName(SvcState s) {
  switch (s) {
    case SvcState::kStopped:
      return "stopped";
    case SvcState::kStarting:
      return "starting";
    case SvcState::kWaitingForVram:
      return "waiting-for-vram";
    case SvcState::kWaitingForPort:
      return "waiting-for-port";
    case SvcState::kRunning:
      return "running";
    case SvcState::kStopping:
      return "stopping";
    case SvcState::kBackoff:
      return "backoff";
    case SvcState::kFailed:
      return "failed";
  }
  return "?";
}

RestartPolicy RestartPolicyFor(const ServiceConfig& cfg) {
  RestartPolicy p;
  p.mode = cfg.restart.when == RestartWhen::kNo       ? RestartMode::kNo
           : cfg.restart.when == RestartWhen::kAlways ? RestartMode::kAlways
                                                      : RestartMode::kOnFailure;
  p.backoff_min = cfg.restart.backoff_min;
  p.backoff_max = cfg.restart.backoff_max;
  p.reset_after = cfg.restart.reset_after;
  p.limit_count = cfg.restart.limit_count;
  p.limit_window = cfg.restart.limit_window;
  p.oom_limit = cfg.incidents.oom_limit;
  p.oom_window = cfg.incidents.oom_window;
  return p;
}

Supervisor::Impl::Impl(asio::io_context& io_, SupervisorDeps deps_, Config config_)
    : io(io_),
      deps(std::move(deps_)),
      config(std::move(config_)),
      daemon_id(DaemonId(config.daemon.state_dir)),
      clock(deps.clock ? *deps.clock : static_cast<Clock&>(system_clock)),
      process(deps.process ? *deps.process : static_cast<ProcessControl&>(posix_process)),
      sigchld(io_, SIGCHLD) {
  inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd >= 0) {
    inotify = std::make_unique<asio::posix::stream_descriptor>(io, inotify_fd);
    ArmInotify();
  }
  ArmSigchld();
  if (deps.events) {
    alerts = std::make_unique<AlertDispatcher>(
        io, *deps.events,
        ChildWatch{[this](pid_t pid) { watched_children.insert(pid); },
                   [this](pid_t pid) -> std::optional<int> {
                     auto it = reaped.find(pid);
                     if (it == reaped.end()) return std::nullopt;
                     int status = it->second;
                     reaped.erase(it);
                     watched_children.erase(pid);
                     return status;
                   }});
    alerts->Configure(config.incidents.alerts);
  }
}

ServiceRt* Supervisor::Impl::Find(const std::string& name) {
  auto it = services.find(name);
  return it == services.end() || it->second->removed ? nullptr : it->second.get();
}

void Supervisor::Impl::SetState(ServiceRt& s, SvcState state, std::string detail) {
  s.state = state;
  s.detail = std::move(detail);
}

std::int64_t Supervisor::Impl::Emit(ServiceRt& s, const std::string& kind,
                                    const std::string& message, nlohmann::json data) {
  data["state"] = SvcStateName(s.state);
  return deps.events->Emit(s.cfg.name, s.inst ? s.inst->tag : "", kind, message, std::move(data));
}

Result<VramView> Supervisor::Impl::Look() {
  if (!deps.gpu) return Fail(ErrorCode::kNoDriver, "no NVIDIA driver");
  auto obs = Observe(deps.gpu, std::nullopt, *deps.procs, getpid());
  if (!obs) return std::unexpected(obs.error());
  if (obs->driver_error) return std::unexpected(*obs->driver_error);
  return std::move(obs->view);
}

Result<VramView> Supervisor::Impl::LookListed(const std::vector<ProcessInfo>& family,
                                              std::optional<Millis> ghost_scan_max_age) {
  if (!deps.gpu) return Fail(ErrorCode::kNoDriver, "no NVIDIA driver");
  auto obs = ObserveListed(deps.gpu, *deps.procs, getpid(), family);
  if (!obs) return std::unexpected(obs.error());
  if (obs->driver_error) return std::unexpected(*obs->driver_error);
  if (obs->ghosts == 0 || !ghost_scan_max_age) return std::move(obs->view);
  // NVML lists a pid that is gone: only a scan of every process's descriptors can say who
  // holds its memory. At most once per ghost_scan_max_age; the last full view meanwhile.
  const SteadyTime now = clock.Now();
  if (last_full_look && now - last_full_look->first <= *ghost_scan_max_age) {
    return last_full_look->second;
  }
  auto full = Look();
  if (full) last_full_look.emplace(now, *full);
  return full;
}

std::vector<ProcessInfo> Supervisor::Impl::Family() {
  const pid_t self = getpid();
  if (!deps.subreaper || !children_files || (strays_outside && !FollowStrays())) {
    // Orphans go to init (no subreaper), the kernel cannot list children, or processes of ours
    // live outside our tree (re-adopted after a daemon restart: what they double-fork goes to
    // init, where no walk reaches it) and cannot be followed by process events: only the whole
    // table can say. Each such read notes which processes of ours are outside; once none is,
    // the walk takes over, and while some are, their forks and exits are followed from here on
    // where the kernel's process events can be had.
    ++full_reads;
    auto list = deps.procs->List(Detail::kFull);
    if (!list) return {};
    if (deps.subreaper && children_files) {
      strays = StraysIn(*list);
      strays_outside = !strays.empty();
      strays_synced = proc_events != nullptr;
      if (!strays_outside) proc_events.reset();
    }
    return std::move(*list);
  }
  std::vector<pid_t> frontier;
  if (auto kids = deps.procs->Children(self)) {
    frontier = std::move(*kids);
  } else if (kids.error().code == ErrorCode::kIo) {
    children_files = false;
    deps.events->Log("note: " + kids.error().message + "; membership reads the process table");
    return Family();
  }
  for (const auto& [name, s] : services) {
    if (!s->inst) continue;
    frontier.push_back(s->inst->pid);
    if (!s->inst->cgroup.empty() && deps.cgroups) {
      if (auto m = deps.cgroups->Members(s->inst->cgroup)) {
        frontier.insert(frontier.end(), m->begin(), m->end());
      }
    }
  }
  frontier.insert(frontier.end(), strays.begin(), strays.end());
  std::vector<ProcessInfo> out;
  std::set<pid_t> seen{self};
  while (!frontier.empty()) {
    const pid_t pid = frontier.back();
    frontier.pop_back();
    if (pid <= 1 || !seen.insert(pid).second) continue;
    auto info = deps.procs->Get(pid);
    if (!info) {
      strays.erase(pid);  // gone (its exit event may still be queued)
      continue;
    }
    if (auto kids = deps.procs->Children(pid)) {
      frontier.insert(frontier.end(), kids->begin(), kids->end());
    }
    out.push_back(std::move(*info));
  }
  if (strays_outside && strays.empty()) {
    strays_outside = false;  // the last of them ended: the walk alone from now on
    proc_events.reset();
  }
  return out;
}

bool Supervisor::Impl::FollowStrays() {
  if (!proc_events) {
    if (events_unavailable || !deps.open_proc_events) return false;
    auto opened = deps.open_proc_events();
    if (!opened) {
      events_unavailable = true;
      deps.events->Log("note: " + opened.error().message +
                       "; processes of re-adopted services are found by reading the process "
                       "table until they end");
      return false;
    }
    proc_events = std::move(*opened);
    strays_synced = false;  // subscribed first: the table read now misses nothing after it
    return false;
  }
  if (!strays_synced) return false;
  auto drained = proc_events->Drain();
  if (!drained) {
    events_unavailable = true;
    proc_events.reset();
    deps.events->Log("note: " + drained.error().message + "; back to reading the process table");
    return false;
  }
  if (drained->lost) {
    strays_synced = false;  // the kernel dropped events: one table read puts it right
    return false;
  }
  for (const ProcEvent& e : drained->events) {
    if (e.kind == ProcEvent::Kind::kFork) {
      if (strays.count(e.parent)) strays.insert(e.pid);
    } else {
      strays.erase(e.pid);
    }
  }
  return true;
}

std::set<pid_t> Supervisor::Impl::StraysIn(const std::vector<ProcessInfo>& table) const {
  const pid_t self = getpid();
  std::unordered_multimap<pid_t, pid_t> children;
  for (const ProcessInfo& p : table) children.emplace(p.ppid, p.pid);
  std::set<pid_t> ours;
  std::vector<pid_t> frontier{self};
  while (!frontier.empty()) {
    const pid_t pid = frontier.back();
    frontier.pop_back();
    if (!ours.insert(pid).second) continue;
    const auto [first, last] = children.equal_range(pid);
    for (auto c = first; c != last; ++c) frontier.push_back(c->second);
  }
  std::set<pid_t> out;
  for (const ProcessInfo& p : table) {
    if (p.IsZombie() || !p.instance_tag || ours.count(p.pid)) continue;
    auto tag = ParseInstanceTag(*p.instance_tag);
    if (tag && tag->daemon == daemon_id) frontier.push_back(p.pid);
  }
  while (!frontier.empty()) {  // and their descendants, tagged or not
    const pid_t pid = frontier.back();
    frontier.pop_back();
    if (ours.count(pid) || !out.insert(pid).second) continue;
    const auto [first, last] = children.equal_range(pid);
    for (auto c = first; c != last; ++c) frontier.push_back(c->second);
  }
  return out;
}

std::vector<pid_t> Supervisor::Impl::Members(const ServiceRt& s,
                                             const std::vector<ProcessInfo>* family) {
  if (!s.inst) return {};
  std::vector<ProcessInfo> own;
  if (!family) {
    own = Family();
    family = &own;
  }
  MembershipInput in;
  in.processes = *family;
  in.main_pid = s.inst->pid;
  in.tag = s.inst->tag;
  if (!s.inst->cgroup.empty() && deps.cgroups) {
    if (auto m = deps.cgroups->Members(s.inst->cgroup)) in.cgroup_members = *m;
  }
  in.daemon_pid = getpid();
  // The main pid counts only while it is the process we started (start time check).
  auto main = std::find_if(in.processes.begin(), in.processes.end(),
                           [&](const ProcessInfo& p) { return p.pid == s.inst->pid; });
  if (main == in.processes.end() || main->start_time != s.inst->start_time) in.main_pid = 0;
  return ServiceMembers(in);
}

// Processes of earlier instances of this service started by this daemon (same state directory),
// not the current instance.
std::vector<pid_t> Supervisor::Impl::Leftovers(const ServiceRt& s) {
  std::vector<pid_t> out;
  for (const ProcessInfo& p : Family()) {
    if (p.IsZombie() || p.pid == getpid()) continue;
    if (!IsOwnLeftoverTag(p.instance_tag, s.cfg.name, daemon_id)) continue;
    // The current instance and its release hook are not leftovers.
    if (s.inst && (*p.instance_tag == s.inst->tag || *p.instance_tag == s.inst->tag + ".hook")) {
      continue;
    }
    out.push_back(p.pid);
  }
  return out;
}

void Supervisor::Impl::OpenLog(ServiceRt& s, bool from_end) {
  std::filesystem::path dir = std::filesystem::path(config.daemon.state_dir) / "logs";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = (dir / (s.cfg.name + ".log")).string();
  if (!s.log || s.log->path() != path) {
    s.log = std::make_unique<LogTail>(path, s.cfg.logs.max_size, s.cfg.logs.keep);
  }
  if (from_end) s.log->SkipToEnd();
  // The file must exist for inotify; the service appends to it.
  if (FILE* f = std::fopen(path.c_str(), "a")) std::fclose(f);
  if (inotify_fd >= 0) {
    int wd = ::inotify_add_watch(inotify_fd, path.c_str(), IN_MODIFY | IN_ATTRIB);
    if (wd >= 0) watches[wd] = &s;
  }
  WatchIncidents(*this, s);
  if (s.cfg.ready.kind == ReadyCheck::Kind::kLog) {
    s.ready_regex.reset();
    // Validated when the config was read; a pattern that no longer compiles never matches.
    if (Result<Pattern> p = Pattern::Compile(s.cfg.ready.log_regex)) s.ready_regex.emplace(*p);
    ServiceRt* sp = &s;
    if (s.ready_listener != 0) s.log->RemoveListener(s.ready_listener);
    s.ready_listener = s.log->AddListener([sp](const std::string& line) {
      if (sp->ready_regex && !sp->ready_seen && sp->ready_regex->Search(line)) {
        sp->ready_seen = true;
        if (sp->wake) sp->wake->cancel();
      }
    });
  }
}

void Supervisor::Impl::ArmInotify() {
  inotify->async_wait(asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        if (ec) return;
                        alignas(inotify_event) char buf[4096];
                        std::set<ServiceRt*> touched;
                        for (;;) {
                          ssize_t n = ::read(inotify_fd, buf, sizeof buf);
                          if (n <= 0) break;
                          for (char* p = buf; p < buf + n;) {
                            auto* ev = reinterpret_cast<inotify_event*>(p);
                            if (auto it = watches.find(ev->wd); it != watches.end())
                              touched.insert(it->second);
                            p += sizeof(inotify_event) + ev->len;
                          }
                        }
                        for (ServiceRt* s : touched) {
                          if (s->log && !s->removed) s->log->Poll();
                        }
                        ArmInotify();
                      });
}

// The daemon is a child subreaper: every orphan of a service becomes our child and is reaped
// here; exit statuses of main processes are kept for OnMainExit.
void Supervisor::Impl::ArmSigchld() {
  sigchld.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    OnSigchld();
    ArmSigchld();
  });
}

void Supervisor::Impl::OnSigchld() {
  std::set<pid_t> mains;
  for (auto& [name, s] : services) {
    if (s->inst) mains.insert(s->inst->pid);
  }
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (mains.count(pid) || watched_children.count(pid)) reaped[pid] = status;
  }
}

void Supervisor::Impl::Adopt(ServiceRt& s, const InstanceRecord& rec) {
  Instance inst;
  inst.tag = rec.tag;
  inst.pid = rec.pid;
  inst.start_time = rec.start_time;
  inst.cgroup = rec.cgroup;
  inst.spawned = clock.Now();
  inst.started_unix_ms = rec.started_unix_ms;
  inst.adopted = true;
  inst.ready_at = clock.Now();
  inst.pidfd.Reset(process.OpenExitFd(rec.pid));
  s.inst = std::move(inst);
  OpenLog(s, /*from_end=*/true);
  SetState(s, SvcState::kRunning, "adopted from an earlier daemon");
  Emit(s, "adopted", "re-adopted " + s.cfg.name + " (pid " + std::to_string(rec.pid) + ")",
       {{"pid", rec.pid}});
  WatchExit(s, s.generation);
  if (s.cfg.liveness.enabled) Spawn(Liveness(s, s.generation));
  StartWatchdog(*this, s, s.generation);
}

// ---- Public face ----------------------------------------------------------------------------

Supervisor::Supervisor(asio::io_context& io, SupervisorDeps deps, Config config)
    : impl_(std::make_unique<Impl>(io, std::move(deps), std::move(config))) {
  for (const ServiceConfig& c : impl_->config.services) {
    auto s = std::make_unique<ServiceRt>();
    s->cfg = c;
    impl_->services.emplace(c.name, std::move(s));
  }
}

Supervisor::~Supervisor() { *impl_->alive = false; }

void Supervisor::Boot() {
  Impl& im = *impl_;
  std::map<std::string, InstanceRecord> records;
  if (auto list = im.deps.store->ListInstances()) {
    for (InstanceRecord& r : *list) records.emplace(r.service, std::move(r));
  }
  for (auto& [name, s] : im.services) {
    auto rec = records.find(name);
    bool adopted = false;
    if (rec != records.end()) {
      auto p = im.deps.procs->Get(rec->second.pid);
      if (p && !p->IsZombie() && p->start_time == rec->second.start_time) {
        im.Adopt(*s, rec->second);
        adopted = true;
      } else {
        im.deps.events->Emit(name, rec->second.tag, "exited",
                             name + " (pid " + std::to_string(rec->second.pid) +
                                 ") ended while the daemon was down");
        (void)im.deps.store->RemoveInstance(name);
      }
      records.erase(rec);
    }
    if (!adopted) {
      im.OpenLog(*s, /*from_end=*/true);
      if (s->cfg.autostart) im.Spawn(im.OpStart(*s, ++s->generation));
    }
  }
  // Instances of services no longer configured: stop them (they would hold VRAM forever).
  for (auto& [name, rec] : records) {
    auto p = im.deps.procs->Get(rec.pid);
    if (!p || p->start_time != rec.start_time) {
      (void)im.deps.store->RemoveInstance(name);
      continue;
    }
    auto s = std::make_unique<ServiceRt>();
    s->cfg.name = name;
    s->removed = false;
    ServiceRt& ref = *s;
    im.services.emplace(name, std::move(s));
    im.Adopt(ref, rec);
    ref.removing = true;
    im.Spawn(im.OpRemove(ref, ++ref.generation));
  }
}

// Looks a service up for an operator's request: the returned mark is the last event before it.
Result<std::int64_t> Supervisor::Impl::Mark(const std::string& name, ServiceRt** out) {
  *out = Find(name);
  if (!*out)
    return Fail(ErrorCode::kNotFound, "no service named '" + name + "'", "see `vramguard status`");
  return deps.events->last_id();
}

// A new operation supersedes whatever the service was doing (stale coroutines see the generation
// change and stop); an operator's start also resets the crash-loop bookkeeping.
std::uint64_t Supervisor::Impl::Supersede(ServiceRt& s, bool reset_limits) {
  if (s.wake) s.wake->cancel();
  if (reset_limits) {  // an operator's start/restart: a fresh run, not the tail of an incident
    s.restart.starts.clear();
    s.restart.failure_streak = 0;
    s.restart.next_start_exempt = false;
    s.incident.extra_vram = Bytes();
  }
  return ++s.generation;
}

// Operations are refused once the daemon is on its way out: a start accepted then would outlive
// it (and hold its VRAM) after it exits.
Result<std::int64_t> Supervisor::Impl::Refuse(const std::string& what) {
  return Fail(ErrorCode::kUnavailable, "the daemon is shutting down: not " + what,
              "start it again once the daemon is back");
}

Result<std::int64_t> Supervisor::Start(const std::string& name) {
  Impl& im = *impl_;
  ServiceRt* s = nullptr;
  auto mark = im.Mark(name, &s);
  if (!mark) return mark;
  if (im.shutting_down) return im.Refuse("starting " + name);
  if (s->state == SvcState::kWaitingForPort) {  // its start is waiting already: say for what
    im.Emit(*s, "port-held", s->detail + "; it starts once the port is free");
    return mark;
  }
  if (s->start_queued) {  // a start is already queued behind the operation in progress
    im.Emit(*s, "noop", name + " is already being started");
    return mark;
  }
  s->start_queued = true;
  // Up or on its way: queue the start without superseding anything (cutting a start's wait for
  // readiness short would leave its instance unwatched); it finds the instance and says so. Else
  // a fresh run: the crash-loop bookkeeping is reset.
  const bool up = s->state == SvcState::kRunning || s->state == SvcState::kStarting ||
                  s->state == SvcState::kWaitingForVram || s->state == SvcState::kWaitingForPort;
  im.Spawn(im.OpStart(*s, up ? s->generation : im.Supersede(*s, true)));
  return mark;
}

Result<std::int64_t> Supervisor::Stop(const std::string& name) {
  Impl& im = *impl_;
  ServiceRt* s = nullptr;
  auto mark = im.Mark(name, &s);
  if (!mark) return mark;
  s->start_queued = false;
  im.Spawn(im.OpStop(*s, im.Supersede(*s, false), false));
  return mark;
}

Result<std::int64_t> Supervisor::Restart(const std::string& name) {
  Impl& im = *impl_;
  ServiceRt* s = nullptr;
  auto mark = im.Mark(name, &s);
  if (!mark) return mark;
  if (im.shutting_down) return im.Refuse("restarting " + name);
  s->start_queued = false;
  im.Spawn(im.OpStop(*s, im.Supersede(*s, true), true));
  return mark;
}

void Supervisor::Reload(Config next) {
  Impl& im = *impl_;
  if (im.shutting_down) {
    im.deps.events->Emit("", "", "config-error", "reload refused: the daemon is shutting down");
    return;
  }
  std::set<std::string> seen;
  int changed = 0, added = 0, removed = 0;
  for (const ServiceConfig& c : next.services) {
    seen.insert(c.name);
    auto it = im.services.find(c.name);
    ServiceRt* s = it == im.services.end() ? nullptr : it->second.get();
    if (!s || s->removed || s->removing) {
      // New, or removed earlier (perhaps still stopping): the same object is revived, so every
      // coroutine that still refers to it stays valid; the generation tells them it moved on.
      if (!s) {
        auto fresh = std::make_unique<ServiceRt>();
        s = fresh.get();
        im.services.emplace(c.name, std::move(fresh));
      }
      const std::uint64_t gen = im.Supersede(*s, true);
      s->removed = false;
      s->removing = false;
      s->restarts = 0;
      ++added;
      if (!s->op_busy && !s->inst) {
        s->cfg = c;
        im.OpenLog(*s, true);
        if (c.autostart) im.Spawn(im.OpStart(*s, gen));
      } else {
        // Its removal is still stopping: the new config applies once that stop is done.
        im.Spawn(im.OpStop(*s, gen, c.autostart, c));
      }
      continue;
    }
    if (s->cfg.Fingerprint() == c.Fingerprint()) {
      s->cfg = c;  // stop, restart, liveness, logs: take effect without a restart
      continue;
    }
    ++changed;
    const bool was_running = s->inst.has_value() || s->op_busy;
    if (was_running || c.autostart) {
      // Stopped with the config it was started with, started with the new one.
      im.Spawn(im.OpStop(*s, im.Supersede(*s, false), true, c));
    } else {
      s->cfg = c;
      im.OpenLog(*s, true);
    }
  }
  for (auto& [name, s] : im.services) {
    if (seen.count(name) || s->removed || s->removing) continue;
    ++removed;
    s->removing = true;
    s->start_queued = false;
    im.Spawn(im.OpRemove(*s, im.Supersede(*s, false)));
  }
  next.daemon = im.config.daemon;  // listener, state dir and socket need a daemon restart
  im.config = std::move(next);
  ApplyIncidentConfig(im);
  im.deps.events->Emit("", "", "config",
                       "configuration reloaded: " + std::to_string(added) + " added, " +
                           std::to_string(changed) + " changed, " + std::to_string(removed) +
                           " removed");
}

void Supervisor::Shutdown(bool keep_services, std::function<void(const ShutdownReport&)> done) {
  Impl& im = *impl_;
  im.shutting_down = true;
  if (keep_services) {
    im.deps.events->Emit("", "", "shutdown",
                         "daemon exiting; services keep running (--keep-services)");
    done(ShutdownReport{});
    return;
  }
  // Every service gets a stop queued behind whatever it is doing: a start in progress ends at
  // its next wait (the generation moved), an instance it spawned meanwhile is stopped too.
  struct Pending {
    int left = 0;
    ShutdownReport report;
    std::function<void(const ShutdownReport&)> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  for (auto& [name, s] : im.services) {
    if (s->removed) continue;
    ++pending->left;
    const std::uint64_t gen = im.Supersede(*s, false);
    s->start_queued = false;
    im.Spawn([](Impl& im2, ServiceRt& r, std::uint64_t g, std::shared_ptr<Pending> p) -> Task<> {
      Impl::OpLock lock = co_await im2.Acquire(r);
      (void)g;
      if (r.inst) {
        StopReport rep = co_await im2.StopInstance(r, "the daemon is shutting down");
        if (!rep.verified || !rep.survivors.empty())
          p->report.incomplete.push_back(r.cfg.name + ": " + rep.Summary("stop"));
      } else if (r.state != SvcState::kFailed) {
        im2.SetState(r, SvcState::kStopped, "the daemon is shutting down");
      }
      if (--p->left == 0) p->done(p->report);
    }(im, *s, gen, pending));
  }
  if (pending->left == 0) pending->done(pending->report);
}

void Supervisor::Hurry() {
  Impl& im = *impl_;
  im.hurry = true;
  im.deps.events->Log("asked again: skipping what is left of every grace period (SIGKILL now)");
}

bool Supervisor::shutting_down() const { return impl_->shutting_down; }

void Supervisor::KernelIncident(Incident inc, const KernelGpu& gpu) {
  OnKernelIncident(*impl_, std::move(inc), gpu);
}

void Supervisor::KernelOomKill(const vg::KernelOomKill& kill, const std::string& line) {
  OnKernelOomKill(*impl_, kill, line);
}

namespace {

nlohmann::json ServiceJson(Supervisor::Impl& im, ServiceRt& s, const VramView* view,
                           const std::vector<ProcessInfo>* family) {
  nlohmann::json j = {{"name", s.cfg.name},
                      {"state", SvcStateName(s.state)},
                      {"detail", s.detail},
                      {"url", s.cfg.url},
                      {"restarts", s.restarts},
                      {"vram_need_bytes", s.cfg.vram.count()},
                      {"ports", s.cfg.ports},
                      {"pid", nullptr},
                      {"instance", nullptr},
                      {"uptime_s", nullptr},
                      {"vram_bytes", nlohmann::json::object()}};
  if (im.job_status && s.cfg.jobs.enabled) j["jobs"] = im.job_status(s.cfg.name);
  nlohmann::json gpus = nlohmann::json::array();
  for (const GpuSelector& g : s.cfg.gpus) {
    gpus.push_back(g.index ? nlohmann::json(*g.index) : nlohmann::json(g.uuid));
  }
  j["gpus"] = gpus;
  if (s.inst) {
    j["pid"] = s.inst->pid;
    j["instance"] = s.inst->tag;
    j["adopted"] = s.inst->adopted;
    const std::int64_t now_ms = UnixNowMs();
    j["uptime_s"] = static_cast<double>(now_ms - s.inst->started_unix_ms) / 1000.0;
    std::vector<pid_t> members = im.Members(s, family);
    j["members"] = members;
    if (view) {
      std::set<pid_t> set(members.begin(), members.end());
      for (auto& [gpu, bytes] : MembersVram(*view, set))
        j["vram_bytes"][std::to_string(gpu)] = bytes.count();
    }
  }
  j["stop_grace_s"] = ToSeconds(s.cfg.stop.grace);
  j["waiting"] = nullptr;
  if (s.waiting) {
    const SteadyTime now = im.clock.Now();
    nlohmann::json w = s.waiting->data;
    w["for"] = s.waiting->what;
    w["waited_s"] = ToSeconds(now - s.waiting->since);
    w["since_unix_ms"] =
        UnixNowMs() - std::chrono::duration_cast<Millis>(now - s.waiting->since).count();
    w["left_s"] = s.waiting->deadline
                      ? nlohmann::json(ToSeconds(
                            std::max(*s.waiting->deadline - now, SteadyTime::duration::zero())))
                      : nlohmann::json(nullptr);
    j["waiting"] = std::move(w);
  }
  j["last_incident"] = LastIncidentJson(im, s);
  if (auto last = im.deps.store->LastEvent(s.cfg.name); last && *last)
    j["last_event"] = EventJson(**last);
  return j;
}

}  // namespace

nlohmann::json Supervisor::StatusAll() {
  Impl& im = *impl_;
  // One walk of the daemon's tree for every service; NVML for memory (no machine scan unless
  // a ghost needs its holders named, at most once per kGhostScanInterval).
  const std::vector<ProcessInfo> family = im.Family();
  auto view = im.LookListed(family, kGhostScanInterval);
  nlohmann::json list = nlohmann::json::array();
  for (auto& [name, s] : im.services) {
    if (!s->removed) list.push_back(ServiceJson(im, *s, view ? &*view : nullptr, &family));
  }
  return list;
}

Result<nlohmann::json> Supervisor::Status(const std::string& name) {
  Impl& im = *impl_;
  ServiceRt* s = im.Find(name);
  if (!s)
    return Fail(ErrorCode::kNotFound, "no service named '" + name + "'", "see `vramguard status`");
  const std::vector<ProcessInfo> family = im.Family();
  auto view = im.LookListed(family, kGhostScanInterval);
  nlohmann::json j = ServiceJson(im, *s, view ? &*view : nullptr, &family);
  if (s->log) j["log_file"] = s->log->path();
  return j;
}

VramSample Supervisor::SampleVram() {
  Impl& im = *impl_;
  VramSample out;
  const std::vector<ProcessInfo> family = im.Family();
  std::map<pid_t, const std::string*> owner;
  for (auto& [name, s] : im.services) {
    if (s->removed) continue;
    std::size_t& n = out.members[name];
    if (!s->inst) continue;
    for (pid_t pid : im.Members(*s, &family)) {
      owner[pid] = &s->cfg.name;
      ++n;
    }
  }
  auto view = im.LookListed(family, std::nullopt);  // a ghost stays unnamed: no machine scan
  if (!view) {
    out.problem = view.error().message;
    return out;
  }
  for (const GpuView& g : view->gpus) {
    GpuHoldings h;
    h.gpu = g.gpu;
    h.gpu.processes.clear();
    std::map<std::string, Bytes> by_service;
    for (const VramEntry& e : g.entries) {
      if (!e.used_known) continue;  // holders and monitors: the listed pid carries the bytes
      const Bytes bytes = e.used.value_or(Bytes(0));
      if (e.role == Role::kGhost) {
        h.holders.push_back({VramHolding::Kind::kGhost, "", e.pid, bytes});
      } else if (auto it = owner.find(e.pid); it != owner.end()) {
        by_service[*it->second] += bytes;
      } else {
        const ProcessInfo* p = view->Find(e.pid);
        h.holders.push_back({VramHolding::Kind::kForeign, p ? p->comm : "", e.pid, bytes});
      }
    }
    for (auto& [name, bytes] : by_service)
      h.holders.insert(h.holders.begin(), {VramHolding::Kind::kService, name, 0, bytes});
    out.gpus.push_back(std::move(h));
  }
  return out;
}

std::vector<ServiceBrief> Supervisor::Brief() const {
  std::vector<ServiceBrief> out;
  for (auto& [name, s] : impl_->services) {
    if (s->removed) continue;
    ServiceBrief b{name, SvcStateName(s->state), s->restarts, std::nullopt};
    if (s->inst) b.started_unix_ms = s->inst->started_unix_ms;
    out.push_back(std::move(b));
  }
  return out;
}

std::pair<std::int64_t, std::int64_t> Supervisor::AlertTotals() const {
  if (!impl_->alerts) return {0, 0};
  return {impl_->alerts->delivered(), impl_->alerts->failed()};
}

Result<std::vector<std::string>> Supervisor::LogLines(const std::string& name, std::size_t n) {
  ServiceRt* s = impl_->Find(name);
  if (!s)
    return Fail(ErrorCode::kNotFound, "no service named '" + name + "'", "see `vramguard status`");
  if (!s->log) return std::vector<std::string>{};
  s->log->Poll();
  return s->log->Last(n);
}

Result<int> Supervisor::SubscribeLogs(const std::string& name,
                                      std::function<void(const std::string&)> f) {
  ServiceRt* s = impl_->Find(name);
  if (!s)
    return Fail(ErrorCode::kNotFound, "no service named '" + name + "'", "see `vramguard status`");
  if (!s->log) impl_->OpenLog(*s, true);
  return s->log->AddListener(std::move(f));
}

void Supervisor::UnsubscribeLogs(const std::string& name, int id) {
  if (ServiceRt* s = impl_->Find(name); s && s->log) s->log->RemoveListener(id);
}

std::string Supervisor::Summary() const {
  std::map<std::string, int> counts;
  int total = 0;
  for (auto& [name, s] : impl_->services) {
    if (s->removed) continue;
    ++total;
    ++counts[SvcStateName(s->state)];
  }
  std::string out = std::to_string(total) + " service" + (total == 1 ? "" : "s");
  std::string parts;
  for (auto& [state, n] : counts)
    parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  return parts.empty() ? out : out + ": " + parts;
}

}  // namespace vg
