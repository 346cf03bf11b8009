// Private to src/daemon: the supervisor's runtime state and the coroutines that drive it.
// Includes Boost.Asio; never include it from a public header.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clock/clock.h"
#include "config/config.h"
#include "core/instance_tag.h"
#include "core/restart_policy.h"
#include "core/vram_view.h"
#include "daemon/alerts.h"
#include "daemon/event_hub.h"
#include "daemon/incident_state.h"
#include "daemon/log_tail.h"
#include "daemon/supervisor.h"
#include "gpu/gpu_probe.h"
#include "proc/cgroup.h"
#include "proc/proc_events.h"
#include "proc/process.h"
#include "proc/process_control.h"
#include "proc/spawner.h"
#include "store/state_store.h"
#include "util/pattern.h"
#include "util/unique_fd.h"

namespace vg {

namespace asio = boost::asio;
template <class T = void>
using Task = asio::awaitable<T>;

enum class SvcState {
  kStopped,
  kStarting,
  kWaitingForVram,
  kWaitingForPort,  // a process that is not ours listens on one of its ports
  kRunning,
  kStopping,
  kBackoff,
  kFailed
};
const char* SvcStateName(SvcState s);

// How stale a full scan may be when status or an incident needs a ghost's holders named.
inline constexpr Millis kGhostScanInterval{2000};

// The pure restart policy for a service's configuration.
RestartPolicy RestartPolicyFor(const ServiceConfig& cfg);

struct Instance {
  std::string tag;  // VRAMGUARD_INSTANCE of every member
  pid_t pid = 0;    // the main process
  std::uint64_t start_time = 0;
  std::string cgroup;  // empty without cgroups
  SteadyTime spawned{};
  std::int64_t started_unix_ms = 0;
  std::optional<SteadyTime> ready_at;
  bool adopted = false;  // started by an earlier daemon: no exit status available
  UniqueFd pidfd;        // readable once the main process exited (ProcessControl::OpenExitFd)
  std::unique_ptr<asio::posix::stream_descriptor> exit_watch;
  std::optional<int> exit_status;  // waitpid status once reaped
};

// What an operation of a service waits for now, for `GET /v1/services/{name}` ("waiting"): set
// by the VRAM wait, the readiness wait and the stop procedure while they wait, cleared when they
// end (WaitGuard). The CLI shows it as progress (docs/cli.md, "Progress").
struct WaitState {
  std::string what;                                // "vram", "ready", "exit", "memory-back"
  SteadyTime since{};                              // when this wait began
  std::optional<SteadyTime> deadline;              // gives up (vram, ready) or sends SIGKILL (exit)
  nlohmann::json data = nlohmann::json::object();  // what it waits for, per kind (docs/api.md)
};

// One service's runtime state. Objects live as long as the supervisor (a service removed by a
// reload and added back is the same object, revived), so coroutines and listeners may hold a
// reference across awaits; they check `generation` or the instance tag they acted on instead.
//
// One operation at a time: every coroutine that changes the instance (start, stop, crash and
// incident handling, removal) first takes the service's operation lock (Supervisor::Impl::
// Acquire). A new request bumps `generation` and wakes the holder's waits; the holder ends at
// its next wait, except a stop, which always runs to the end (its processes are verified gone)
// before the next operation begins. See ARCHITECTURE.md, "One operation at a time".
struct ServiceRt {
  ServiceConfig cfg;
  SvcState state = SvcState::kStopped;
  std::string detail;  // why it is in that state, one line
  std::optional<Instance> inst;
  RestartState restart;
  std::uint64_t generation = 0;              // bumped by every operation; stale coroutines stop
  std::unique_ptr<asio::steady_timer> wake;  // backoff / vram wait / readiness waits
  std::unique_ptr<LogTail> log;
  std::optional<Pattern> ready_regex;  // RE2: linear, whatever the line
  int ready_listener = 0;              // the LogTail listener that watches for the ready line
  bool ready_seen = false;             // the readiness line appeared
  int restarts = 0;
  bool removed = false;       // a reload removed it and its stop has finished
  bool removing = false;      // a reload removed it; its stop is queued or running
  bool start_queued = false;  // a start request waits for the operation lock
  bool op_busy = false;       // an operation holds the lock
  std::deque<std::shared_ptr<asio::steady_timer>> op_waiters;  // FIFO of operations waiting
  int active_jobs = 0;  // vramguard jobs running now (the job manager counts); > 0: busy
  IncidentRt incident;  // classifier, last output, last incident (daemon/incidents.h)
  std::optional<WaitState> waiting;  // what the operation in progress waits for now
  // Main processes of instances forgotten lately (at most 8): a kernel OOM kill read after the
  // exit was handled still names its service (OnKernelOomKill).
  std::deque<std::pair<pid_t, SteadyTime>> forgotten_pids;
};

// Clears a service's `waiting` when the wait that set it ends, however it ends (not once the
// supervisor is gone: a coroutine frame destroyed with the io_context).
class WaitGuard {
 public:
  WaitGuard(ServiceRt& s, std::shared_ptr<bool> alive) : s_(s), alive_(std::move(alive)) {}
  WaitGuard(const WaitGuard&) = delete;
  WaitGuard& operator=(const WaitGuard&) = delete;
  ~WaitGuard() {
    if (*alive_) s_.waiting.reset();
  }

 private:
  ServiceRt& s_;
  std::shared_ptr<bool> alive_;
};

// The result of stopping a set of processes and verifying their memory came back.
struct StopReport {
  int signalled = 0;
  std::vector<pid_t> killed;     // needed SIGKILL
  std::vector<pid_t> survivors;  // alive after SIGKILL
  std::chrono::nanoseconds exit_time{0};
  Bytes expected;        // memory the members held before
  bool verified = true;  // the driver no longer lists any of it
  std::chrono::nanoseconds back_after{0};
  std::vector<std::string> still_held;  // who holds what did not come back
  std::string Summary(const std::string& signal_name) const;
  nlohmann::json Json() const;
};

struct Supervisor::Impl {
  Impl(asio::io_context& io, SupervisorDeps deps, Config config);

  asio::io_context& io;
  SupervisorDeps deps;
  Config config;
  std::string daemon_id;  // the daemon part of every instance tag (core/instance_tag.h)
  SystemClock system_clock;
  PosixProcessControl posix_process;
  Clock& clock;             // deps.clock or the system clock
  ProcessControl& process;  // deps.process or pidfds and waitpid
  bool shutting_down = false;
  bool hurry = false;  // a second Ctrl-C: stops skip the rest of their grace
  // False once the supervisor is gone: operation locks destroyed with the io_context after it
  // must not touch their service.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::map<std::string, std::unique_ptr<ServiceRt>> services;
  std::map<pid_t, int> reaped;  // exit statuses collected by the SIGCHLD handler
  asio::signal_set sigchld;
  int inotify_fd = -1;
  std::unique_ptr<asio::posix::stream_descriptor> inotify;
  std::map<int, ServiceRt*> watches;        // inotify wd → service
  std::unique_ptr<AlertDispatcher> alerts;  // [[alert]] receivers (daemon/alerts.h)
  std::set<pid_t> watched_children;         // alert commands: OnSigchld keeps their status
  // The job manager's per-service summary for status (daemon/job_manager.h); unset: no jobs.
  std::function<nlohmann::json(const std::string&)> job_status;

  ServiceRt* Find(const std::string& name);
  Result<std::int64_t> Mark(const std::string& name, ServiceRt** out);
  Result<std::int64_t> Refuse(const std::string& what);  // kUnavailable: shutting down
  std::uint64_t Supersede(ServiceRt& s, bool reset_limits);
  void SetState(ServiceRt& s, SvcState state, std::string detail = {});
  std::int64_t Emit(ServiceRt& s, const std::string& kind, const std::string& message,
                    nlohmann::json data = nlohmann::json::object());

  // Observation and membership (ARCHITECTURE.md, "Who is ours, without reading the machine").
  // The full view: every process's descriptors are read to name ghosts' holders. For failure
  // paths and ghosts only.
  Result<VramView> Look();
  // The view from NVML and what the daemon knows: `family` plus the processes NVML lists. A
  // ghost (NVML lists a pid that is gone) gets its holders from a full Look when
  // ghost_scan_max_age is set, reused while younger than that; nullopt: ghosts stay unnamed.
  Result<VramView> LookListed(const std::vector<ProcessInfo>& family,
                              std::optional<Millis> ghost_scan_max_age);
  // Every process of ours, Detail::kFull: the daemon's descendants (it is their subreaper),
  // walked through the kernel's children lists, and the instances' cgroup members. Costs the
  // processes the daemon runs, not the machine's. The whole table instead while processes of
  // ours live outside the tree (instances re-adopted after a daemon restart: what they fork can
  // go to init), and without the subreaper or the children files.
  std::vector<ProcessInfo> Family();
  // Processes of ours outside the tree in a whole table: those with this daemon's instance tags
  // and their descendants.
  std::set<pid_t> StraysIn(const std::vector<ProcessInfo>& table) const;
  // Applies the process events since the last call to `strays`; false when they cannot be
  // followed now (no events, just subscribed, events lost): the caller reads the whole table.
  bool FollowStrays();
  // family: the result of Family() to reuse (nullptr: walk it now).
  std::vector<pid_t> Members(const ServiceRt& s, const std::vector<ProcessInfo>* family = nullptr);
  std::vector<pid_t> Leftovers(const ServiceRt& s);
  bool strays_outside = true;  // boot: unknown until the first whole-table read says
  std::set<pid_t> strays;      // processes of ours outside the tree, followed by process events
  std::unique_ptr<ProcEventSource> proc_events;  // open while strays_outside
  bool strays_synced = false;       // `strays` is the table's, updated by every event since
  bool events_unavailable = false;  // opening or reading the events failed: whole tables
  bool children_files = true;       // false once the kernel said it has none
  int full_reads = 0;               // whole-table reads by Family
  std::optional<std::pair<SteadyTime, VramView>> last_full_look;  // LookListed's ghost cache

  // The operation lock (see ServiceRt). Released when the OpLock goes.
  class OpLock {
   public:
    OpLock(Impl* im, ServiceRt* s) : im_(im), s_(s), alive_(im->alive) {}
    OpLock(OpLock&& o) noexcept
        : im_(o.im_), s_(std::exchange(o.s_, nullptr)), alive_(std::move(o.alive_)) {}
    OpLock& operator=(OpLock&&) = delete;
    ~OpLock();

   private:
    Impl* im_;
    ServiceRt* s_;
    std::shared_ptr<bool> alive_;
  };
  Task<OpLock> Acquire(ServiceRt& s);

  // Operations: each takes the lock first (lifecycle.cc).
  Task<> OpStart(ServiceRt& s, std::uint64_t gen);
  Task<> OpStop(ServiceRt& s, std::uint64_t gen, bool then_start,
                std::optional<ServiceConfig> next = std::nullopt);
  Task<> OpRemove(ServiceRt& s, std::uint64_t gen);
  // The instance `tag` failed (liveness, watchdog, incident): stop it, verify, then `decide`
  // (null: stay stopped) and apply the restart policy. Nothing happens if `tag` is gone.
  using Decide =
      std::function<std::optional<RestartDecision>(ServiceRt&, bool was_ready, Millis ran)>;
  Task<> OpInstanceFailed(ServiceRt& s, std::string tag, std::string what, Decide decide);

  // Steps of operations (called with the lock held).
  Task<> StartSequence(ServiceRt& s, std::uint64_t gen);
  Task<> SweepLeftovers(ServiceRt& s);
  Task<bool> CheckPorts(ServiceRt& s);
  Task<std::optional<std::string>> WaitForVram(ServiceRt& s, std::uint64_t gen);
  bool SpawnInstance(ServiceRt& s, std::uint64_t gen, const std::string& visible);
  Task<> EndInstance(ServiceRt& s, std::string what);
  void ForgetInstance(ServiceRt& s);
  // Stops the current instance, always to the end: release hook, the one stop procedure on
  // every member, a sweep of late forks, forget. Emits stopping/stopped (or stop-incomplete).
  Task<StopReport> StopInstance(ServiceRt& s, const std::string& why);
  Task<> OnMainExit(ServiceRt& s, std::string tag);
  // The one stop procedure (core/stop_machine.h) on these processes, driven asynchronously.
  Task<StopReport> StopProcesses(ServiceRt& s, std::vector<pid_t> pids, int signal, Millis grace);
  Task<> RunReleaseHook(ServiceRt& s);
  Task<bool> WaitReady(ServiceRt& s, std::uint64_t gen);
  Task<> Liveness(ServiceRt& s, std::uint64_t gen);
  Task<> ApplyRestart(ServiceRt& s, std::uint64_t gen, const RestartDecision& d);
  void WatchExit(ServiceRt& s, std::uint64_t gen);
  void ArmExitWatch(ServiceRt& s, const std::string& tag);
  void Adopt(ServiceRt& s, const InstanceRecord& rec);
  void OpenLog(ServiceRt& s, bool from_end);
  void OnSigchld();
  void ArmSigchld();
  void ArmInotify();
  Task<> Sleep(std::chrono::nanoseconds d);
  Task<> SleepOrWake(ServiceRt& s, std::chrono::nanoseconds d);
  void Spawn(Task<> t);
};

}  // namespace vg
