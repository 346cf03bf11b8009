// The service lifecycle as coroutines: start (sweep → port → VRAM → spawn → ready), stop
// (release hook → signal the tree → grace → KILL → exited → memory verified back), crash
// handling (reap leftovers and verify before the restart policy runs), liveness.
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "core/membership.h"
#include "core/stop_machine.h"
#include "core/vram_need.h"
#include "daemon/http_probe.h"
#include "daemon/incidents.h"
#include "daemon/spawn_logged.h"
#include "daemon/supervisor_impl.h"
#include "proc/pidfd.h"
#include "proc/ports.h"
#include "util/strings.h"
#include "util/unique_fd.h"

namespace vg {
namespace {

using namespace std::chrono_literals;

// Outside any coroutine: GCC 12 cannot keep a C array in a coroutine frame.
std::optional<std::pair<uid_t, gid_t>> LookupUser(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return std::nullopt;
  return std::make_pair(pw.pw_uid, pw.pw_gid);
}

// (Not inline in the coroutines: GCC 12 cannot keep an initializer list's array in a frame.)
void CloseOutputs(const SpawnedProcess& p) {
  if (p.stdout_fd >= 0) ::close(p.stdout_fd);
  if (p.stderr_fd >= 0) ::close(p.stderr_fd);
}

nlohmann::json PidsData(const std::vector<pid_t>& pids) {
  nlohmann::json j = nlohmann::json::object();
  j["pids"] = pids;
  return j;
}

nlohmann::json PortData(int port, pid_t pid) {
  nlohmann::json j = nlohmann::json::object();
  j["port"] = port;
  j["pid"] = pid;
  return j;
}

nlohmann::json ReadyData(const std::string& url, double seconds) {
  nlohmann::json j = nlohmann::json::object();
  j["url"] = url;
  j["startup_s"] = seconds;
  return j;
}

// What a start waiting for VRAM waits for (the "waiting" object of GET /v1/services/{name}):
// per GPU what is free, plannable, needed and missing, and who holds the memory.
nlohmann::json VramWaitData(const VramFit& fit) {
  nlohmann::json gpus = nlohmann::json::array();
  Bytes missing;
  for (const GpuShortfall& g : fit.shortfalls) {
    const Bytes short_by = g.need > g.plannable ? g.need - g.plannable : Bytes();
    missing += short_by;
    nlohmann::json holders = nlohmann::json::array();
    for (const HolderShare& h : g.holders)
      holders.push_back({{"pid", h.pid}, {"bytes", h.bytes.count()}, {"label", h.label}});
    gpus.push_back({{"index", g.gpu},
                    {"free_bytes", g.free.count()},
                    {"plannable_bytes", g.plannable.count()},
                    {"need_bytes", g.need.count()},
                    {"missing_bytes", short_by.count()},
                    {"holders", holders}});
  }
  return {{"missing_bytes", missing.count()},
          {"gpus", gpus},
          {"missing_gpus", fit.missing_gpus},
          {"detail", fit.Describe()}};
}

// "a log line matching /Listening/", "GET http://127.0.0.1:8188/ answering 200",
// "TCP port 8188 accepting".
std::string ReadyCheckText(const ReadyCheck& rc) {
  switch (rc.kind) {
    case ReadyCheck::Kind::kLog:
      return "a log line matching /" + rc.log_regex + "/";
    case ReadyCheck::Kind::kHttp:
      return "GET " + rc.http_url + " answering " + std::to_string(rc.http_status);
    case ReadyCheck::Kind::kTcp:
      return "TCP port " + std::to_string(rc.tcp_port) + " accepting";
    default:
      return "none";
  }
}

// One line, however the holder's command line looks (arguments may hold newlines).
std::string DescribeHolder(pid_t pid, const std::optional<ProcessInfo>& p) {
  if (pid <= 0) return "a process vramguard cannot see (another user's; run as root)";
  std::string s = "pid " + std::to_string(pid);
  if (p) s += " (" + OneLine(p->CommandLine(), 120) + ", user " + p->user + ")";
  return s;
}

std::string RandomTag(const std::string& service, const std::string& daemon_id) {
  static std::mt19937_64 rng{std::random_device{}()};
  return FormatInstanceTag(service, daemon_id, rng());
}

std::string SignalName(int sig) {
  switch (sig) {
    case SIGTERM:
      return "TERM";
    case SIGINT:
      return "INT";
    case SIGQUIT:
      return "QUIT";
    case SIGHUP:
      return "HUP";
    case SIGKILL:
      return "KILL";
    case SIGUSR1:
      return "USR1";
    case SIGUSR2:
      return "USR2";
    default:
      return std::to_string(sig);
  }
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)));
  }
  return "ended (status " + std::to_string(status) + ")";
}

// GPU indices for a service's selectors; UUIDs resolved against the snapshot.
std::vector<unsigned> ResolveGpus(const ServiceConfig& cfg, const VramView& view) {
  std::vector<unsigned> out;
  for (const GpuSelector& sel : cfg.gpus) {
    if (sel.index) {
      out.push_back(*sel.index);
      continue;
    }
    for (const GpuView& g : view.gpus) {
      if (g.gpu.uuid == sel.uuid) out.push_back(g.gpu.index);
    }
  }
  return out;
}

std::string VisibleDevices(const ServiceConfig& cfg, const VramView& view) {
  std::string out;
  for (const GpuSelector& sel : cfg.gpus) {
    std::string id = sel.uuid;
    if (sel.index) {
      for (const GpuView& g : view.gpus) {
        if (g.gpu.index == *sel.index && !g.gpu.uuid.empty()) id = g.gpu.uuid;
      }
      if (id.empty()) id = std::to_string(*sel.index);
    }
    out += (out.empty() ? "" : ",") + id;
  }
  return out;
}

}  // namespace

std::string StopReport::Summary(const std::string& signal_name) const {
  std::string s = signal_name + " → ";
  if (signalled == 0) {
    s = "no process was running";
  } else if (killed.empty()) {
    s += "exited in " + FormatSeconds(exit_time);
  } else {
    s += "KILL after grace → exited in " + FormatSeconds(exit_time);
  }
  if (!survivors.empty()) s += "; " + std::to_string(survivors.size()) + " survived SIGKILL";
  if (expected.count() > 0) {
    s += verified ? "; " + FormatBytes(expected) + " back in " + FormatSeconds(back_after)
                  : "; memory NOT back after " + FormatSeconds(back_after);
  }
  for (const std::string& h : still_held) s += "; " + h;
  return s;
}

nlohmann::json StopReport::Json() const {
  return {{"signalled", signalled},
          {"killed", killed},
          {"survivors", survivors},
          {"exit_s", ToSeconds(exit_time)},
          {"expected_bytes", expected.count()},
          {"verified", verified},
          {"back_s", ToSeconds(back_after)},
          {"still_held", still_held}};
}

void Supervisor::Impl::Spawn(Task<> t) {
  SpawnLogged(io, std::move(t), *deps.events, "a service operation");
}

Task<> Supervisor::Impl::Sleep(std::chrono::nanoseconds d) {
  asio::steady_timer t(io, d);
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Sleeps, but a state change of the service (stop, restart) cuts it short.
Task<> Supervisor::Impl::SleepOrWake(ServiceRt& s, std::chrono::nanoseconds d) {
  if (!s.wake) s.wake = std::make_unique<asio::steady_timer>(io);
  s.wake->expires_after(d);
  boost::system::error_code ec;
  co_await s.wake->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

Supervisor::Impl::OpLock::~OpLock() {
  if (!s_ || !*alive_) return;
  s_->op_busy = false;
  // Hand over in FIFO order: the first waiter wakes and takes the lock.
  while (!s_->op_waiters.empty()) {
    std::shared_ptr<asio::steady_timer> next = std::move(s_->op_waiters.front());
    s_->op_waiters.pop_front();
    if (next) {
      next->cancel();
      break;
    }
  }
}

Task<Supervisor::Impl::OpLock> Supervisor::Impl::Acquire(ServiceRt& s) {
  if (s.op_busy || !s.op_waiters.empty()) {
    auto turn = std::make_shared<asio::steady_timer>(io, asio::steady_timer::time_point::max());
    s.op_waiters.push_back(turn);
    for (;;) {
      boost::system::error_code ec;
      co_await turn->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      // Woken by the releasing operation (it popped us), never spuriously.
      if (std::find(s.op_waiters.begin(), s.op_waiters.end(), turn) == s.op_waiters.end()) break;
    }
  }
  s.op_busy = true;
  co_return OpLock(this, &s);
}

// The one stop procedure (core/stop_machine.h), driven without blocking the loop: the machine
// says what to do, this does it and observes (exits through the signaller, the driver's list).
Task<StopReport> Supervisor::Impl::StopProcesses(ServiceRt& s, std::vector<pid_t> pids, int signal,
                                                 Millis grace) {
  StopReport r;
  // What the driver says these processes hold now: it must be gone when they are.
  std::set<pid_t> members(pids.begin(), pids.end());
  std::vector<std::pair<unsigned, pid_t>> expected;
  // NVML and the members; the machine is scanned only when NVML lists a ghost (its holders may
  // be these members), and then freshly: what must come back is decided on it.
  if (auto view = LookListed({}, Millis(0))) {
    for (const GpuView& g : view->gpus) {
      for (const VramEntry& e : g.entries) {
        bool ours = (e.role == Role::kRunning || e.role == Role::kOrphan) && members.count(e.pid);
        if (e.role == Role::kGhost && !e.holders.empty()) {
          ours = std::all_of(e.holders.begin(), e.holders.end(),
                             [&](pid_t h) { return members.count(h) > 0; });
        }
        if (!ours) continue;
        expected.emplace_back(g.gpu.index, e.pid);
        r.expected += e.used.value_or(Bytes());
      }
    }
  }
  // Each target is pinned with its start time: a pid recycled since the membership scan is
  // refused by Attach and never signalled.
  std::unique_ptr<Signaller> sig = process.NewSignaller();
  std::vector<pid_t> alive;
  for (pid_t p : pids) {
    auto info = deps.procs->Get(p);
    if (!info || info->IsZombie()) continue;
    if (sig->Attach(p, info->start_time)) alive.push_back(p);
  }
  const bool cgroup = s.inst && !s.inst->cgroup.empty() && deps.cgroups;
  const std::string cgroup_path = cgroup ? s.inst->cgroup : "";
  StopLimits limits;
  limits.signal = signal;
  limits.grace = grace;
  limits.release_timeout = s.cfg.stop.release_timeout;
  StopMachine machine(limits, clock.Now());
  auto listed = [&] {
    if (expected.empty() || !deps.gpu) return std::size_t{0};
    if (auto snap = deps.gpu->Snapshot()) {
      std::erase_if(expected, [&](const std::pair<unsigned, pid_t>& x) {
        for (const GpuInfo& g : snap->gpus) {
          if (g.index != x.first) continue;
          for (const GpuProcess& p : g.processes) {
            if (static_cast<pid_t>(p.pid) == x.second) return false;
          }
        }
        return true;
      });
    }
    return expected.size();
  };
  StopObservation obs{clock.Now(), alive.size(), expected.size(), hurry};
  WaitGuard guard(s, this->alive);
  for (StopStep step = machine.Next(obs); step.action != StopAction::kDone;
       step = machine.Next(obs)) {
    switch (step.action) {
      case StopAction::kSignal:
        for (pid_t p : alive) {
          if (sig->Signal(p, signal)) ++r.signalled;
        }
        if (signal != SIGKILL && !alive.empty()) {
          s.waiting = WaitState{"exit",
                                clock.Now(),
                                clock.Now() + grace,
                                {{"signal", "SIG" + SignalName(signal)}, {"then", "SIGKILL"}}};
        }
        if (signal == SIGKILL && cgroup) (void)deps.cgroups->KillAll(cgroup_path);
        break;
      case StopAction::kWaitExit:
        co_await Sleep(step.poll);
        alive = sig->WaitForExit(alive, std::chrono::nanoseconds(0));
        break;
      case StopAction::kKill:
        Emit(s, "stop-escalated",
             std::to_string(alive.size()) + " process" + (alive.size() == 1 ? "" : "es") +
                 " still alive " +
                 (hurry ? "when asked to hurry" : "after " + FormatSeconds(grace) + " grace") +
                 ": SIGKILL",
             {{"pids", alive}});
        if (cgroup) (void)deps.cgroups->KillAll(cgroup_path);
        for (pid_t p : alive) (void)sig->Signal(p, SIGKILL);
        r.killed = alive;
        s.waiting = WaitState{"exit", clock.Now(), std::nullopt, {{"signal", "SIGKILL"}}};
        break;
      case StopAction::kPollGpu:
        if (!expected.empty() && (!s.waiting || s.waiting->what != "memory-back"))
          s.waiting = WaitState{"memory-back", clock.Now(), std::nullopt, nlohmann::json::object()};
        if (step.poll.count() > 0) co_await Sleep(step.poll);
        break;
      case StopAction::kDone:
        break;
    }
    obs = StopObservation{clock.Now(), alive.size(),
                          step.action == StopAction::kPollGpu ? listed() : expected.size(), hurry};
    if (s.waiting) {
      s.waiting->data["processes"] = alive.size();
      if (s.waiting->what == "memory-back") s.waiting->data["entries"] = expected.size();
    }
  }
  sig->DetachAll();
  const StopOutcome& out = machine.outcome();
  r.survivors = alive;
  r.exit_time = out.exit_time;
  r.back_after = out.back_after;
  if (!expected.empty()) {
    r.verified = false;
    if (auto view = Look()) {
      for (auto [gpu, pid] : expected) {
        for (auto [gv, e] : view->EntriesFor(pid)) {
          std::string who = "GPU " + std::to_string(gpu) + ": " + std::to_string(pid);
          if (e->role == Role::kGhost && !e->holders.empty()) {
            who += " held by";
            for (pid_t h : e->holders) who += " " + std::to_string(h);
          }
          r.still_held.push_back(who + " (not ours: reap it with `vramguard reap`)");
        }
      }
    }
  }
  co_return r;
}

Task<> Supervisor::Impl::RunReleaseHook(ServiceRt& s) {
  const ReleaseHook& hook = s.cfg.stop.release;
  if (hook.kind == ReleaseHook::Kind::kHttp) {
    HttpProbeResult r = co_await HttpRequestOnce(io, hook.method, hook.url, hook.timeout);
    Emit(s, "release-hook",
         r.ok() ? "release hook " + hook.method + " " + hook.url + " answered " +
                      std::to_string(r.status)
                : "release hook " + hook.method + " " + hook.url + " failed: " + r.error,
         {{"status", r.status}, {"error", r.error}});
  } else if (hook.kind == ReleaseHook::Kind::kCommand) {
    SpawnSpec spec;
    spec.argv = hook.command;
    spec.cwd = s.cfg.cwd;
    spec.instance_tag = s.inst ? s.inst->tag + ".hook" : s.cfg.name + ".hook";
    auto child = deps.spawner->Spawn(spec);
    if (!child) {
      Emit(s, "release-hook", "release hook failed to start: " + child.error().message);
      co_return;
    }
    CloseOutputs(*child);
    const SteadyTime deadline = clock.Now() + hook.timeout;
    const UniqueFd hook_fd(child->pidfd);
    while (!PidfdExited(hook_fd.get()) && clock.Now() < deadline) co_await Sleep(5ms);
    bool done = PidfdExited(hook_fd.get());
    if (!done) PidfdSendSignal(hook_fd.get(), SIGKILL);
    Emit(s, "release-hook",
         done ? "release hook command finished" : "release hook command timed out; killed");
  }
}

// Stops the current instance, always to the end (a newer request waits for the lock).
Task<StopReport> Supervisor::Impl::StopInstance(ServiceRt& s, const std::string& why) {
  StopReport r;
  if (!s.inst) co_return r;
  SetState(s, SvcState::kStopping, why);
  Emit(s, "stopping", "stopping " + s.cfg.name + (why == "stopping" ? "" : " (" + why + ")"));
  co_await RunReleaseHook(s);
  r = co_await StopProcesses(s, Members(s), s.cfg.stop.signal, s.cfg.stop.grace);
  // Children forked during the stop: one more sweep.
  std::vector<pid_t> late = Members(s);
  if (!late.empty()) {
    StopReport r2 = co_await StopProcesses(s, late, SIGKILL, Millis(0));
    r.signalled += r2.signalled;
    r.killed.insert(r.killed.end(), r2.killed.begin(), r2.killed.end());
    r.survivors = r2.survivors;
  }
  ForgetInstance(s);
  const std::string summary =
      "stopped " + s.cfg.name + ": " + r.Summary(SignalName(s.cfg.stop.signal));
  SetState(s, SvcState::kStopped, summary);
  Emit(s, r.verified && r.survivors.empty() ? "stopped" : "stop-incomplete", summary, r.Json());
  co_return r;
}

Task<> Supervisor::Impl::OpStart(ServiceRt& s, std::uint64_t gen) {
  OpLock lock = co_await Acquire(s);
  s.start_queued = false;
  // A newer request decides; a removed service or a daemon on its way out starts nothing.
  if (s.generation != gen || s.removed || s.removing || shutting_down) co_return;
  if (s.inst) {
    Emit(s, "noop", s.cfg.name + " is already " + SvcStateName(s.state));
    co_return;
  }
  co_await StartSequence(s, gen);
}

Task<> Supervisor::Impl::OpStop(ServiceRt& s, std::uint64_t gen, bool then_start,
                                std::optional<ServiceConfig> next) {
  OpLock lock = co_await Acquire(s);
  if (s.inst) {
    co_await StopInstance(s, "stopping");
  } else if (s.generation == gen) {
    SetState(s, SvcState::kStopped, "stopped");
    Emit(s, "stopped", s.cfg.name + " was not running");
  }
  if (next) {  // a reload's change: the new config starts
    s.cfg = std::move(*next);
    OpenLog(s, /*from_end=*/true);
  }
  if (then_start && s.generation == gen && !s.removed && !s.removing && !shutting_down)
    co_await StartSequence(s, gen);
}

Task<> Supervisor::Impl::OpRemove(ServiceRt& s, std::uint64_t gen) {
  OpLock lock = co_await Acquire(s);
  if (s.inst) co_await StopInstance(s, "removed from the configuration");
  // Added back by a later reload while this stop ran: that reload's operation owns it now.
  if (s.generation != gen || !s.removing) co_return;
  s.removing = false;
  s.removed = true;
  SetState(s, SvcState::kStopped, "removed from the configuration");
}

Task<> Supervisor::Impl::OpInstanceFailed(ServiceRt& s, std::string tag, std::string what,
                                          Decide decide) {
  OpLock lock = co_await Acquire(s);
  if (!s.inst || s.inst->tag != tag) {  // that instance is already gone
    if (!s.inst && s.state == SvcState::kStopping) SetState(s, SvcState::kStopped, what);
    co_return;
  }
  const std::uint64_t gen = ++s.generation;
  const bool was_ready = s.inst->ready_at.has_value();
  const Millis ran = std::chrono::duration_cast<Millis>(clock.Now() - s.inst->spawned);
  SetState(s, SvcState::kStopping, what);
  StopReport r = co_await StopProcesses(s, Members(s), s.cfg.stop.signal, s.cfg.stop.grace);
  Emit(s, "reaped", what + ": " + r.Summary(SignalName(s.cfg.stop.signal)), r.Json());
  ForgetInstance(s);
  std::optional<RestartDecision> d;
  if (decide) d = decide(s, was_ready, ran);
  if (!d) {
    if (s.state == SvcState::kStopping) SetState(s, SvcState::kStopped, what);
    co_return;
  }
  if (s.generation != gen) co_return;  // an operator's request came meanwhile: it decides
  co_await ApplyRestart(s, gen, *d);
}

Task<> Supervisor::Impl::StartSequence(ServiceRt& s, std::uint64_t gen) {
  auto stale = [&] { return s.generation != gen || s.removed || s.removing || shutting_down; };
  if (stale()) co_return;
  SetState(s, SvcState::kStarting, "sweeping leftovers");
  Emit(s, "starting", "starting " + s.cfg.name);
  co_await SweepLeftovers(s);
  if (stale()) co_return;
  if (!(co_await CheckPorts(s)) || stale()) co_return;
  std::optional<std::string> visible = co_await WaitForVram(s, gen);
  if (!visible || stale()) co_return;
  if (!SpawnInstance(s, gen, *visible)) co_return;

  SetState(s, SvcState::kStarting, "waiting for readiness");
  bool ready = co_await WaitReady(s, gen);
  if (stale() || !s.inst) co_return;
  if (!ready) {
    std::vector<std::string> last = s.log ? s.log->Last(10) : std::vector<std::string>{};
    std::string what =
        s.cfg.name + " did not become ready within " + FormatSeconds(s.cfg.ready.timeout);
    if (s.cfg.ready.kind == ReadyCheck::Kind::kLog)
      what += ": it never printed a line matching /" + s.cfg.ready.log_regex + "/";
    what += last.empty() ? " (it printed nothing)" : " (last output: " + last.back() + ")";
    Emit(s, "ready-timeout", what, {{"last_lines", last}});
    co_await EndInstance(s, "stopped the unready instance");
    co_return;
  }
  s.inst->ready_at = clock.Now();
  const double took = ToSeconds(*s.inst->ready_at - s.inst->spawned);
  const std::string url = s.cfg.url;
  SetState(s, SvcState::kRunning, url.empty() ? "ready" : "ready at " + url);
  Emit(s, "ready",
       s.cfg.name + " is ready" + (url.empty() ? "" : " at " + url) + " (in " +
           FormatSeconds(*s.inst->ready_at - s.inst->spawned) + ")",
       ReadyData(url, took));
  if (s.cfg.liveness.enabled) Spawn(Liveness(s, gen));
  StartWatchdog(*this, s, gen);
}

// Stops the current instance as a failure (not ready in time) and lets the restart policy decide
// what comes next. Called with the lock held.
Task<> Supervisor::Impl::EndInstance(ServiceRt& s, std::string what) {
  const std::uint64_t gen = s.generation;
  SetState(s, SvcState::kStopping, what);  // its exit is ours to handle, not a crash
  StopReport r = co_await StopProcesses(s, Members(s), s.cfg.stop.signal, s.cfg.stop.grace);
  Emit(s, "reaped", what + ": " + r.Summary(SignalName(s.cfg.stop.signal)), r.Json());
  ForgetInstance(s);
  if (s.generation != gen || s.removed) {
    if (s.state == SvcState::kStopping) SetState(s, SvcState::kStopped, what);
    co_return;
  }
  RestartDecision d = DecideRestart(&s.restart, RestartPolicyFor(s.cfg),
                                    InstanceEnd{false, false, Millis(0)}, clock.Now());
  co_await ApplyRestart(s, gen, d);
}

// Leftovers of earlier instances (by tag) go first, with verification.
Task<> Supervisor::Impl::SweepLeftovers(ServiceRt& s) {
  std::vector<pid_t> leftovers = Leftovers(s);
  if (leftovers.empty()) co_return;
  Emit(s, "sweeping",
       std::to_string(leftovers.size()) +
           (leftovers.size() == 1 ? " leftover process" : " leftover processes") +
           " of an earlier " + s.cfg.name + " instance: reaping",
       PidsData(leftovers));
  StopReport r = co_await StopProcesses(s, leftovers, SIGTERM, s.cfg.stop.grace);
  Emit(s, "swept", "leftovers reaped: " + r.Summary("TERM"), r.Json());
}

// Ports: a holder that is ours is reaped; anyone else's is named, and the start waits (polling,
// up to vram_wait, the bound of every start wait) until the port is free: a squatter that goes
// away needs no operator. Returns false when the start was abandoned (superseded or timed out).
Task<bool> Supervisor::Impl::CheckPorts(ServiceRt& s) {
  const std::uint64_t gen = s.generation;
  const SteadyTime begin = clock.Now();
  std::string announced;  // the holder last named: said once, again only if another holds it
  for (;;) {
    std::optional<std::string> held;
    for (int port : s.cfg.ports) {
      auto listeners = FindPortListeners(port);
      if (!listeners || listeners->empty()) continue;
      for (const PortListener& l : *listeners) {
        std::optional<ProcessInfo> p;
        if (l.pid > 0) {
          if (auto got = deps.procs->Get(l.pid)) p = std::move(*got);
        }
        if (p && IsOwnLeftoverTag(p->instance_tag, s.cfg.name, daemon_id)) {
          StopReport r =
              co_await StopProcesses(s, std::vector<pid_t>(1, l.pid), SIGTERM, s.cfg.stop.grace);
          Emit(s, "swept",
               "port " + std::to_string(port) + " was held by our own leftover " +
                   std::to_string(l.pid) + ": " + r.Summary("TERM"));
          continue;
        }
        held = "port " + std::to_string(port) + " is held by " + DescribeHolder(l.pid, p) +
               ", not by vramguard; refusing to start " + s.cfg.name;
        if (announced != *held) {
          SetState(s, SvcState::kWaitingForPort, *held);
          Emit(s, "port-held",
               *held + "; it starts once the port is free (waiting up to " +
                   FormatSeconds(s.cfg.vram_wait) + ")",
               PortData(port, l.pid));
          announced = *held;
        }
        break;
      }
      if (held) break;
    }
    if (!held) {
      if (!announced.empty())
        Emit(s, "port-free", "the port is free after " + FormatSeconds(clock.Now() - begin));
      co_return true;
    }
    if (clock.Now() - begin >= s.cfg.vram_wait) {
      const std::string msg =
          "gave up waiting for the port after " + FormatSeconds(s.cfg.vram_wait) + ": " + *held;
      SetState(s, SvcState::kFailed, msg);
      Emit(s, "port-timeout", msg);
      co_return false;
    }
    co_await SleepOrWake(s, 250ms);
    if (s.generation != gen || s.removed || s.removing || shutting_down) co_return false;
  }
}

// VRAM: free − reserve ≥ need on every GPU of the service, or wait. The driver is polled and the
// start goes ahead the moment the memory is there. Returns CUDA_VISIBLE_DEVICES, or nullopt when
// the start was abandoned.
Task<std::optional<std::string>> Supervisor::Impl::WaitForVram(ServiceRt& s, std::uint64_t gen) {
  if (s.cfg.gpus.empty()) co_return std::string();
  const SteadyTime begin = clock.Now();
  bool announced = false;
  WaitGuard guard(s, alive);
  for (;;) {
    auto view = LookListed({}, std::nullopt);  // free memory per GPU: NVML alone
    if (!view) {
      Emit(s, "warning",
           "cannot read the GPU: " + view.error().message + "; starting without a VRAM check");
      co_return std::string();
    }
    const std::string visible = VisibleDevices(s.cfg, *view);
    // After an OOM with on_oom = "wait-for-vram": also what the OOM asked for.
    VramFit fit =
        CheckVramFit(*view, VramNeed{ResolveGpus(s.cfg, *view), s.cfg.vram + s.incident.extra_vram,
                                     config.daemon.reserve});
    if (fit.fits) {
      if (announced)
        Emit(s, "vram-free", "VRAM is free after " + FormatSeconds(clock.Now() - begin));
      co_return visible;
    }
    s.waiting = WaitState{"vram", begin, begin + s.cfg.vram_wait, VramWaitData(fit)};
    if (!announced) {
      SetState(s, SvcState::kWaitingForVram, fit.Describe());
      Emit(s, "waiting-for-vram", "waiting for VRAM: " + fit.Describe());
      announced = true;
    } else {
      s.detail = fit.Describe();
    }
    if (clock.Now() - begin >= s.cfg.vram_wait) {
      const std::string msg = "gave up waiting for VRAM after " + FormatSeconds(s.cfg.vram_wait) +
                              ": " + fit.Describe();
      SetState(s, SvcState::kFailed, msg);
      Emit(s, "vram-timeout", msg);
      co_return std::nullopt;
    }
    co_await SleepOrWake(s, std::min<std::chrono::nanoseconds>(config.daemon.poll, 20ms));
    if (s.generation != gen || s.removed) co_return std::nullopt;
  }
}

// Spawn: new session, instance tag, output to the log file, own cgroup where possible.
bool Supervisor::Impl::SpawnInstance(ServiceRt& s, std::uint64_t gen, const std::string& visible) {
  SetState(s, SvcState::kStarting, "spawning");
  SpawnSpec spec;
  spec.argv = s.cfg.command;
  spec.cwd = s.cfg.cwd;
  spec.env = s.cfg.env;
  // Python block-buffers stdout into a pipe or file: a ready line would sit in the buffer and
  // the service look silent. On by default; `env.PYTHONUNBUFFERED = ""` turns it off.
  spec.env.try_emplace("PYTHONUNBUFFERED", "1");
  if (!visible.empty()) {
    spec.env["CUDA_VISIBLE_DEVICES"] = visible;
    spec.env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID";
  }
  if (s.cfg.user) {
    auto ids = LookupUser(*s.cfg.user);
    if (!ids) {
      std::string msg = "user '" + *s.cfg.user + "' does not exist; cannot start " + s.cfg.name;
      SetState(s, SvcState::kFailed, msg);
      Emit(s, "start-failed", msg);
      return false;
    }
    spec.uid = ids->first;
    spec.gid = ids->second;
  }
  spec.instance_tag = RandomTag(s.cfg.name, daemon_id);
  spec.output_path = s.log->path();
  if (deps.cgroups) {
    if (auto cg = deps.cgroups->Create(s.cfg.name)) spec.cgroup = *cg;
  }
  s.incident.extra_vram = Bytes();
  RecordStart(&s.restart, RestartPolicyFor(s.cfg), clock.Now());
  auto child = deps.spawner->Spawn(spec);
  if (!child) {
    std::string msg = "cannot start " + s.cfg.name + ": " + child.error().message;
    SetState(s, SvcState::kFailed, msg);
    Emit(s, "start-failed", msg);
    return false;
  }
  CloseOutputs(*child);
  Instance inst;
  inst.tag = spec.instance_tag;
  inst.pid = child->pid;
  inst.start_time = child->start_time;
  inst.cgroup = spec.cgroup;
  inst.spawned = clock.Now();
  inst.started_unix_ms = UnixNowMs();
  inst.pidfd.Reset(child->pidfd >= 0 ? child->pidfd : process.OpenExitFd(child->pid));
  s.inst = std::move(inst);
  s.ready_seen = false;
  NewInstanceForIncidents(*this, s);  // an OOM of this instance is never merged into the last one's
  InstanceRecord rec;
  rec.service = s.cfg.name;
  rec.tag = s.inst->tag;
  rec.pid = s.inst->pid;
  rec.start_time = s.inst->start_time;
  rec.cgroup = s.inst->cgroup;
  rec.started_unix_ms = s.inst->started_unix_ms;
  rec.fingerprint = s.cfg.Fingerprint();
  if (auto r = deps.store->PutInstance(rec); !r)
    Emit(s, "warning", "instance not recorded: " + r.error().message);
  nlohmann::json data = nlohmann::json::object();
  data["pid"] = child->pid;
  data["instance"] = spec.instance_tag;
  data["cgroup"] = spec.cgroup;
  Emit(s, "spawned", "started " + s.cfg.name + " (pid " + std::to_string(child->pid) + ")", data);
  WatchExit(s, gen);
  return true;
}

void Supervisor::Impl::ForgetInstance(ServiceRt& s) {
  if (!s.inst) return;
  if (s.inst->exit_watch) s.inst->exit_watch->cancel();
  if (!s.inst->cgroup.empty() && deps.cgroups) (void)deps.cgroups->Remove(s.inst->cgroup);
  s.forgotten_pids.emplace_back(s.inst->pid, clock.Now());
  if (s.forgotten_pids.size() > 8) s.forgotten_pids.pop_front();
  s.inst.reset();
  (void)deps.store->RemoveInstance(s.cfg.name);
}

Task<bool> Supervisor::Impl::WaitReady(ServiceRt& s, std::uint64_t gen) {
  const ReadyCheck& rc = s.cfg.ready;
  if (rc.kind == ReadyCheck::Kind::kNone) co_return true;
  const SteadyTime deadline = clock.Now() + rc.timeout;
  WaitGuard guard(s, alive);
  s.waiting = WaitState{"ready", clock.Now(), deadline, {{"check", ReadyCheckText(rc)}}};
  while (clock.Now() < deadline) {
    if (s.generation != gen || !s.inst) co_return false;
    switch (rc.kind) {
      case ReadyCheck::Kind::kLog:
        if (s.ready_seen) co_return true;
        co_await SleepOrWake(s, 250ms);  // the log listener wakes us on a match
        break;
      case ReadyCheck::Kind::kHttp: {
        HttpProbeResult r = co_await HttpRequestOnce(io, "GET", rc.http_url, 1000ms);
        if (r.status == rc.http_status) co_return true;
        co_await Sleep(100ms);
        break;
      }
      case ReadyCheck::Kind::kTcp: {
        if (co_await TcpConnectOnce(io, "127.0.0.1", rc.tcp_port, 500ms)) co_return true;
        co_await Sleep(100ms);
        break;
      }
      default:
        co_return true;
    }
  }
  co_return s.ready_seen;
}

Task<> Supervisor::Impl::Liveness(ServiceRt& s, std::uint64_t gen) {
  (void)gen;
  if (!s.inst) co_return;
  const std::string tag = s.inst->tag;      // the probe belongs to this instance only
  const LivenessCheck lc = s.cfg.liveness;  // a copy: a reload may replace cfg
  std::optional<Pattern> body_re;           // RE2: linear in the body, whatever the pattern
  if (!lc.expect_body.empty()) {
    if (Result<Pattern> p = Pattern::Compile(lc.expect_body)) body_re.emplace(*p);
  }
  auto current = [&] { return s.inst && s.inst->tag == tag && s.state == SvcState::kRunning; };
  int failures = 0;
  while (current()) {
    co_await Sleep(lc.interval);
    if (!current()) co_return;
    HttpProbeResult r = co_await HttpRequestOnce(io, lc.method, lc.http_url, lc.timeout, lc.body);
    if (!current()) co_return;
    const bool status_ok = r.status == lc.expect_status;
    const bool body_ok = !body_re || body_re->Search(r.body);
    if (status_ok && body_ok) {
      failures = 0;
      continue;
    }
    ++failures;
    if (failures < lc.failures) continue;
    const std::string why = !r.error.empty() ? r.error
                            : !status_ok     ? "status " + std::to_string(r.status)
                                             : "body does not match /" + lc.expect_body + "/";
    Emit(s, "unhealthy",
         s.cfg.name + " failed " + std::to_string(failures) + " liveness probes (" + why +
             "): restarting",
         {{"status", r.status}, {"error", r.error}});
    Supersede(s, false);  // cut short whatever waits; the failure handling takes the lock next
    Spawn(
        OpInstanceFailed(s, tag, "stopped the unhealthy instance",
                         [this](ServiceRt& sv, bool, Millis ran) -> std::optional<RestartDecision> {
                           return DecideRestart(&sv.restart, RestartPolicyFor(sv.cfg),
                                                {false, false, ran}, clock.Now());
                         }));
    co_return;
  }
}

void Supervisor::Impl::WatchExit(ServiceRt& s, std::uint64_t gen) {
  (void)gen;
  if (!s.inst || !s.inst->pidfd.ok()) return;
  int fd = ::dup(s.inst->pidfd.get());
  if (fd < 0) return;
  s.inst->exit_watch = std::make_unique<asio::posix::stream_descriptor>(io, fd);
  ArmExitWatch(s, s.inst->tag);
}

// Waits for the instance's exit descriptor to become readable. The readiness is checked again
// when the wait completes: a descriptor number closed and reused within one loop turn (the last
// instance's, forgotten by a stop) can deliver a stale readiness to the new one, and a live
// instance must never be handled as exited.
void Supervisor::Impl::ArmExitWatch(ServiceRt& s, const std::string& tag) {
  ServiceRt* sp = &s;
  s.inst->exit_watch->async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, sp, tag](const boost::system::error_code& ec) {
        if (ec || !sp->inst || sp->inst->tag != tag || !sp->inst->exit_watch) return;
        pollfd p{sp->inst->exit_watch->native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 0) != 1 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) {
          ArmExitWatch(*sp, tag);  // not exited: a stale wake-up
          return;
        }
        Spawn(OnMainExit(*sp, tag));
      });
}

// The main process of instance `tag` exited. Runs as an operation: a stop in progress finishes
// first, and then this finds its instance gone and does nothing.
Task<> Supervisor::Impl::OnMainExit(ServiceRt& s, std::string tag) {
  OpLock lock = co_await Acquire(s);
  if (!s.inst || s.inst->tag != tag) co_return;
  // Collect the exit status (the SIGCHLD handler may have reaped it already).
  int status = -1;
  pid_t pid = s.inst->pid;
  if (auto it = reaped.find(pid); it != reaped.end()) {
    status = it->second;
    reaped.erase(it);
  } else if (!s.inst->adopted) {
    if (auto st = process.TryReap(pid)) status = *st;
  }
  const Millis ran = std::chrono::duration_cast<Millis>(clock.Now() - s.inst->spawned);
  const bool clean = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::string how = status >= 0 ? ExitText(status) : "exited (status unknown: adopted instance)";
  const std::uint64_t before = s.generation;
  std::vector<std::string> last = s.log ? s.log->Last(20) : std::vector<std::string>{};
  if (s.log) {
    for (const std::string& l : s.log->Poll()) last.push_back(l);
  }
  // An incident in those last lines (an OOM, a sticky error) took over: its operation, queued
  // behind this one, stops what is left and applies its own policy.
  if (s.generation != before || !s.inst || s.inst->tag != tag) co_return;
  nlohmann::json data = {{"pid", pid}, {"ran_s", ToSeconds(ran)}, {"last_lines", last}};
  if (status >= 0 && WIFEXITED(status)) data["exit_code"] = WEXITSTATUS(status);
  if (status >= 0 && WIFSIGNALED(status)) data["signal"] = WTERMSIG(status);
  const std::uint64_t gen = ++s.generation;
  Emit(s, clean ? "exited" : "crashed",
       s.cfg.name + " (pid " + std::to_string(pid) + ") " + how + " after " + FormatSeconds(ran),
       data);

  // Leftovers (forked workers holding the context) are reaped and the memory verified before
  // the restart policy runs, so the next instance never starts into a ghost.
  std::vector<pid_t> members = Members(s);
  if (!members.empty()) {
    SetState(s, SvcState::kStopping, "reaping leftovers");
    StopReport r = co_await StopProcesses(s, members, s.cfg.stop.signal, s.cfg.stop.grace);
    const std::size_t n = members.size();
    Emit(s, "reaped",
         "reaped " + std::to_string(n) + " leftover process" + (n == 1 ? "" : "es") + " of " +
             s.cfg.name + ": " + r.Summary(SignalName(s.cfg.stop.signal)),
         r.Json());
  }
  ForgetInstance(s);
  if (s.generation != gen || s.removed || s.removing) {
    if (s.state == SvcState::kStopping || s.state == SvcState::kRunning)
      SetState(s, SvcState::kStopped, how);
    co_return;
  }
  RestartDecision d =
      DecideRestart(&s.restart, RestartPolicyFor(s.cfg), {false, clean, ran}, clock.Now());
  co_await ApplyRestart(s, gen, d);
}

// Called with the lock held, as the last step of an operation.
Task<> Supervisor::Impl::ApplyRestart(ServiceRt& s, std::uint64_t gen, const RestartDecision& d) {
  if (shutting_down && d.action == RestartDecision::Action::kRestart) {
    SetState(s, SvcState::kStopped, "the daemon is shutting down: not restarting");
    co_return;
  }
  switch (d.action) {
    case RestartDecision::Action::kNone:
      SetState(s, SvcState::kStopped, d.reason);
      co_return;
    case RestartDecision::Action::kGiveUp: {
      std::string msg = s.cfg.name + " failed: " + d.reason +
                        "; start it again with `vramguard start " + s.cfg.name + "`";
      SetState(s, SvcState::kFailed, msg);
      Emit(s, "failed", msg);
      co_return;
    }
    case RestartDecision::Action::kRestart:
      ++s.restarts;
      SetState(s, SvcState::kBackoff, d.reason);
      Emit(s, "backoff", d.reason, {{"delay_s", ToSeconds(d.delay)}});
      co_await SleepOrWake(s, d.delay);
      if (s.generation != gen || s.removed || s.removing || shutting_down) {
        if (s.state == SvcState::kBackoff && !s.inst)
          SetState(s, SvcState::kStopped, "restart cancelled");
        co_return;
      }
      co_await StartSequence(s, gen);
  }
}

}  // namespace vg
