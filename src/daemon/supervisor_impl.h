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
#include <regex>
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
#include "proc/process.h"
#include "proc/spawner.h"
#include "store/state_store.h"

namespace vg {

namespace asio = boost::asio;
template <class T = void>
using Task = asio::awaitable<T>;

enum class SvcState {
  kStopped,
  kStarting,
  kWaitingForVram,
  kRunning,
  kStopping,
  kBackoff,
  kFailed
};
const char* SvcStateName(SvcState s);

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
  int pidfd = -1;
  std::unique_ptr<asio::posix::stream_descriptor> exit_watch;
  std::optional<int> exit_status;  // waitpid status once reaped
};

struct ServiceRt {
  ServiceConfig cfg;
  SvcState state = SvcState::kStopped;
  std::string detail;  // why it is in that state, one line
  std::optional<Instance> inst;
  RestartState restart;
  std::uint64_t generation = 0;              // bumped by every operation; stale coroutines stop
  std::unique_ptr<asio::steady_timer> wake;  // backoff / vram wait / readiness waits
  std::unique_ptr<LogTail> log;
  std::optional<std::regex> ready_regex;
  bool ready_seen = false;  // the readiness line appeared
  int restarts = 0;
  bool removed = false;
  int active_jobs = 0;  // vramguard jobs running now (the job manager counts); > 0: busy
  IncidentRt incident;  // classifier, last output, last incident (daemon/incidents.h)
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
  SystemClock clock;
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
  std::uint64_t Supersede(ServiceRt& s, bool reset_limits);
  void SetState(ServiceRt& s, SvcState state, std::string detail = {});
  std::int64_t Emit(ServiceRt& s, const std::string& kind, const std::string& message,
                    nlohmann::json data = nlohmann::json::object());

  // Observation and membership.
  Result<VramView> Look();
  // table: a Detail::kFull process list to reuse (nullptr: read it now).
  std::vector<pid_t> Members(const ServiceRt& s, const std::vector<ProcessInfo>* table = nullptr);
  std::vector<pid_t> Leftovers(const ServiceRt& s);

  // Coroutines (lifecycle.cc).
  Task<> StartSequence(ServiceRt& s, std::uint64_t gen);
  Task<> SweepLeftovers(ServiceRt& s);
  Task<bool> CheckPorts(ServiceRt& s);
  Task<std::optional<std::string>> WaitForVram(ServiceRt& s, std::uint64_t gen);
  bool SpawnInstance(ServiceRt& s, std::uint64_t gen, const std::string& visible);
  Task<> EndInstance(ServiceRt& s, std::string what);
  void ForgetInstance(ServiceRt& s);
  Task<> StopSequence(ServiceRt& s, std::uint64_t gen, bool then_start);
  Task<> OnMainExit(ServiceRt& s, std::string tag);
  Task<StopReport> StopProcesses(ServiceRt& s, std::vector<pid_t> pids, int signal, Millis grace);
  Task<> RunReleaseHook(ServiceRt& s);
  Task<bool> WaitReady(ServiceRt& s, std::uint64_t gen);
  Task<> Liveness(ServiceRt& s, std::uint64_t gen);
  Task<> ApplyRestart(ServiceRt& s, std::uint64_t gen, const RestartDecision& d);
  void WatchExit(ServiceRt& s, std::uint64_t gen);
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
