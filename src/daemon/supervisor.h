// Supervisor: runs the configured services so that they start only when their VRAM (and port)
// is free and never leave VRAM behind.
//
// Every operation (start, stop, restart, crash handling, reload) is a coroutine on the daemon's
// single Boost.Asio io_context; public methods only queue work and return at once with the id of
// the last event before it, so a client can follow the events that tell how it went. Not
// thread-safe: call only from the io_context's thread. Asio stays out of this header.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "core/incident.h"
#include "core/incident_kernel.h"
#include "gpu/gpu_probe.h"
#include "util/error.h"

namespace boost::asio {
class io_context;
}

namespace vg {

class GpuProbe;
class ProcessSource;
class Spawner;
class CgroupManager;
class EventHub;
class StateStore;
class Clock;
class ProcessControl;
class ServicePort;
class ProcEventSource;

// A GPU a kernel log message named: index and uuid as NVML reports them for its PCI bus id;
// index unset when no GPU matched (then the incident applies to every GPU).
struct KernelGpu {
  std::optional<unsigned> index;
  std::string uuid;
  std::string bus;  // as the kernel spelled it, normalised ("0000:3b:00"); empty if none
};

struct SupervisorDeps {
  GpuProbe* gpu = nullptr;  // null: no driver; VRAM checks are skipped with a warning
  ProcessSource* procs = nullptr;
  Spawner* spawner = nullptr;
  CgroupManager* cgroups = nullptr;  // null: no writable cgroup v2 here
  EventHub* events = nullptr;
  StateStore* store = nullptr;
  Clock* clock = nullptr;             // null: the system clock
  ProcessControl* process = nullptr;  // null: pidfds and waitpid (PosixProcessControl)
  // The daemon is its services' child subreaper (BecomeChildSubreaper succeeded): every process
  // they start stays in its tree, so membership walks that tree (ProcessSource::Children)
  // instead of reading every process on the machine. False: the whole table, every time.
  bool subreaper = false;
  // The kernel's process events (proc/proc_events.h), opened while processes of ours live
  // outside the tree (re-adopted instances) so they are followed without whole-table reads.
  // Unset, or failing (no CAP_NET_ADMIN): the whole table while such processes exist.
  std::function<Result<std::unique_ptr<ProcEventSource>>()> open_proc_events;
};

// How a shutdown ended: the services whose stop could not be verified (a process survived
// SIGKILL, or the driver still listed their memory), one line each; empty when all is clean.
struct ShutdownReport {
  std::vector<std::string> incomplete;
};

// Who holds VRAM on one GPU, as the dashboard's history and the metrics sample it
// (daemon/telemetry.h). A service's members are summed into one holder.
struct VramHolding {
  enum class Kind { kService, kForeign, kGhost };
  Kind kind = Kind::kForeign;
  std::string name;  // the service; a foreign process's comm; empty for a ghost
  pid_t pid = 0;     // kForeign, kGhost: the pid the driver lists; kService: 0
  Bytes bytes;
};
struct GpuHoldings {
  GpuInfo gpu;  // `processes` left empty: `holders` says who
  std::vector<VramHolding> holders;
};
// A service as the metrics see it: what the supervisor knows without reading /proc.
struct ServiceBrief {
  std::string name;
  std::string state;  // SvcStateName
  int restarts = 0;
  std::optional<std::int64_t> started_unix_ms;  // the instance's start; unset: none
};
// One sample: NVML and the daemon's own processes (Family: a walk of its tree), no machine scan;
// a ghost stays a ghost (its holders are not named here).
struct VramSample {
  std::vector<GpuHoldings> gpus;
  std::map<std::string, std::size_t> members;  // service → processes now (0: none)
  std::string problem;                         // set when the driver did not answer
};

class Supervisor {
 public:
  Supervisor(boost::asio::io_context& io, SupervisorDeps deps, Config config);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Re-adopts instances recorded by a previous daemon, then starts autostart services.
  void Boot();

  // Queue an operation; the result is the id of the last event before it (follow from there).
  Result<std::int64_t> Start(const std::string& name);
  Result<std::int64_t> Stop(const std::string& name);
  Result<std::int64_t> Restart(const std::string& name);

  // Applies a new configuration: removed services stop, changed ones restart, new autostart
  // ones start, unchanged ones are untouched.
  void Reload(Config next);

  // Shutdown is a state: from this call on every start and restart is refused (kUnavailable),
  // every instance that exists or is starting is stopped and verified (unless keep_services),
  // and then done is called with what could not be verified.
  void Shutdown(bool keep_services, std::function<void(const ShutdownReport&)> done);
  // A second Ctrl-C: skip what is left of every stop's grace (SIGKILL now, still verifying).
  void Hurry();
  bool shutting_down() const;

  nlohmann::json StatusAll();
  Result<nlohmann::json> Status(const std::string& name);
  Result<std::vector<std::string>> LogLines(const std::string& name, std::size_t n);
  // Live output lines of a service; returns a subscription id.
  Result<int> SubscribeLogs(const std::string& name, std::function<void(const std::string&)> f);
  void UnsubscribeLogs(const std::string& name, int id);

  // Who holds VRAM now (see VramSample); costs NVML plus the daemon's own processes.
  VramSample SampleVram();
  // Every service's state, restarts and start; no I/O.
  std::vector<ServiceBrief> Brief() const;
  // Alert deliveries since the daemon started: delivered, and given up after every retry.
  std::pair<std::int64_t, std::int64_t> AlertTotals() const;

  // One line for systemd's STATUS=: "3 services: 2 running, 1 waiting-for-vram".
  std::string Summary() const;

  // A kernel log incident (device-lost, gpu-error) about `gpu`: one event per service pinned to
  // it, with that service's policy; one daemon-wide event when no service is pinned to it.
  void KernelIncident(Incident inc, const KernelGpu& gpu);
  // The kernel's OOM killer killed a process (daemon/incidents.h OnKernelOomKill).
  void KernelOomKill(const KernelOomKill& kill, const std::string& line);

  struct Impl;

 private:
  // The job manager's door (daemon/service_port.h) is the only other code that sees Impl.
  friend std::unique_ptr<ServicePort> MakeServicePort(Supervisor& supervisor);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vg
