// ServicePort: the job manager's one door to the supervisor — what it may read about a service and
// what it may ask of it. Nothing else of the supervisor's state is reachable from job_*.
//
// Reads: the configured services, a service's config, a view of it now (state, the reason for
// it, the instance tag, how long its current instance took to become ready, jobs counted as
// running), the daemon section of the config, and the members (pids) of services' instances.
// Requests: start, stop-if-idle, begin-job / end-job counting, run the release hook, and the
// per-service job summary the supervisor shows in `status`.
//
// The two rules that keep a job and a stop apart (both answered in one call, with no await in
// between, so nothing can change between the check and the act):
//   - StopIfIdle refuses while jobs are counted as running (BeginJob … EndJob) and, once it
//     granted a stop, the service reads as `kStopping` at once;
//   - BeginJob refuses unless the service is `kRunning` (never while it stops).
//
// Single-threaded: call only from the daemon's io_context thread. A returned ServiceConfig
// pointer is valid until control returns to the event loop (a reload may replace it). The
// supervisor outlives its port; the port outlives the job manager that uses it. Asio stays out
// of this header.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "util/error.h"
#include "util/units.h"

namespace vg {

class Supervisor;

class ServicePort {
 public:
  // A service's state as the supervisor reports it (`vramguard status`).
  enum class State { kStopped, kStarting, kWaitingForVram, kRunning, kStopping, kBackoff, kFailed };

  struct View {
    State state = State::kStopped;
    std::string detail;             // why it is in that state, one line (the cause of kFailed)
    std::string instance;           // the current instance's tag; empty: no instance
    std::optional<Millis> startup;  // spawn → ready of the current instance (unset: not ready)
    int active_jobs = 0;            // BeginJob minus EndJob
  };

  virtual ~ServicePort() = default;

  // ---- Reads ----
  // The services configured now (removed ones excluded), in name order.
  virtual std::vector<std::string> Services() const = 0;
  // nullptr: no such service (or removed).
  virtual const ServiceConfig* ConfigOf(const std::string& name) const = 0;
  virtual std::optional<View> Look(const std::string& name) const = 0;
  virtual const DaemonConfig& Daemon() const = 0;
  // The members of each named service's current instance, from one read of the process table;
  // a service without an instance maps to an empty list.
  virtual std::map<std::string, std::vector<pid_t>> Members(
      const std::vector<std::string>& names) = 0;

  // ---- Requests ----
  // Queues a start (a no-op when it is already running, starting or stopping); the outcome comes
  // as events (`ready`, `port-held`, `failed`, …).
  virtual Result<void> Start(const std::string& name) = 0;
  // Queues a stop of an idle instance: false (and nothing done) when there is no instance, it is
  // already stopping, or jobs are counted as running. True: the service is kStopping now.
  virtual bool StopIfIdle(const std::string& name) = 0;
  // Counts a job as running on the service: false (nothing counted) unless it is kRunning.
  virtual bool BeginJob(const std::string& name) = 0;
  // Ends what BeginJob counted (never below zero).
  virtual void EndJob(const std::string& name) = 0;
  // Runs the service's release hook (asks it to give back cached memory); `done` is called on the
  // event loop when the hook finished (at once when there is none or no such service).
  virtual void RunReleaseHook(const std::string& name, std::function<void()> done) = 0;
  // The job summary `status` shows for each service that takes jobs; nullptr: none.
  virtual void SetJobStatus(std::function<nlohmann::json(const std::string&)> summary) = 0;
};

const char* ServiceStateName(ServicePort::State s);

// The production port over the daemon's Supervisor (service_port.cc).
std::unique_ptr<ServicePort> MakeServicePort(Supervisor& supervisor);

}  // namespace vg
