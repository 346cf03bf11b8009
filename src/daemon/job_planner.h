// JobPlanner: the daemon's one door to the pure admission core (core/estimator.h, ledger.h,
// admission.h, suggest.h) — per-service estimators, the job queue, planning and refusals with
// suggestions — in plain types of its own.
//
// Why a door: the job manager thinks in services, job ids and NVML samples; the core in queue
// entries, ledgers and observations. job_planner.cc is the one file that translates between them
// and includes the core's estimator, ledger and suggestion headers; the daemon uses core's
// Decision (core/admission.h) as it is. Single-threaded (the daemon's io_context); owns its state;
// sizes in job bytes over the loaded service (core/job_schema.h).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clock/clock.h"
#include "config/config_jobs.h"
#include "core/admission.h"
#include "core/job_schema.h"
#include "util/error.h"
#include "util/units.h"

namespace vg {

// The schema core works with, from the service's job config.
JobSchema SchemaFromConfig(const JobsConfig& jobs);

struct PlanGpu {
  unsigned index = 0;
  Bytes total;
  Bytes driver_free;
  Bytes reserve;
};

struct PlanRunningJob {
  std::string id;
  unsigned gpu = 0;
  Bytes estimate;
  bool at_peak = false;
  std::optional<SteadyTime> started;
};

struct PlanService {
  enum class Run { kRunning, kStopped, kStarting } state = Run::kStopped;
  std::string name;
  std::vector<unsigned> gpus;
  std::map<unsigned, Bytes> held;  // NVML use of its members per GPU now
  Bytes baseline;                  // loaded and idle, per GPU (0: not measured yet)
  std::vector<PlanRunningJob> running;
  unsigned concurrency = 1;
  std::optional<SteadyTime> idle_since;
  std::optional<Millis> startup_time;
  Bytes start_vram;
  bool has_release_hook = false;
};

struct PlanCluster {
  std::vector<PlanGpu> gpus;
  std::vector<PlanService> services;
};

// Decisions are core's own (core/admission.h: Decision, Verdict): the daemon carries them out
// as they are, with no copy of its own.

struct PlanEstimate {
  Bytes bytes;  // with margin: what is reserved
  Bytes prior;
  std::string source;
};

struct PlanSuggestion {
  nlohmann::json params;  // complete
  Bytes estimate;
};

enum class PeakKind { kExact, kAtMost, kAtLeast };

class JobPlanner {
 public:
  JobPlanner();
  ~JobPlanner();
  JobPlanner(const JobPlanner&) = delete;
  JobPlanner& operator=(const JobPlanner&) = delete;

  // (Re)declares a service's job interface; an unchanged schema keeps what was learned.
  void Configure(const std::string& service, const JobsConfig& jobs);
  bool Has(const std::string& service) const;

  // Validated params with defaults filled in (a JSON object), or the 400's error;
  // `bad_parameter` receives the offending name.
  Result<nlohmann::json> Validate(const std::string& service, const nlohmann::json& params,
                                  std::string* bad_parameter) const;
  PlanEstimate Estimate(const std::string& service, const nlohmann::json& params) const;
  void Observe(const std::string& service, const nlohmann::json& params, Bytes job_bytes,
               PeakKind kind);

  // The queue.
  void Enqueue(const std::string& id, const std::string& service, int priority, std::uint64_t seq,
               SteadyTime submitted, Bytes estimate);
  void Remove(const std::string& id);
  std::size_t Queued() const;
  std::size_t Position(const std::string& id) const;  // O(jobs of its service)
  // Jobs of `service` a new job of `priority` would queue behind (O(priority levels)).
  std::size_t CountAhead(const std::string& service, int priority) const;

  void RecordDuration(const std::string& service, Millis took);
  // The first `n` queued jobs of `service` in queue order, with their estimates (no driver:
  // the daemon runs jobs by concurrency alone).
  std::vector<std::pair<std::string, Bytes>> FirstQueued(const std::string& service,
                                                         std::size_t n) const;

  std::vector<Decision> Plan(const PlanCluster& cluster, SteadyTime now) const;
  // For a job not yet queued (`id` empty is fine), or a queued one.
  Decision Decide(const PlanCluster& cluster, const std::string& id, const std::string& service,
                  int priority, std::uint64_t seq, SteadyTime submitted, Bytes estimate,
                  SteadyTime now) const;

  std::vector<PlanSuggestion> Suggest(const std::string& service, const nlohmann::json& params,
                                      Bytes capacity, std::size_t max_count) const;
  std::string DescribeRefusal(const std::string& service, const nlohmann::json& params, Bytes need,
                              Bytes capacity, const std::vector<PlanSuggestion>& suggestions) const;
  // "resolution=1024 frames=32"
  std::string Describe(const std::string& service, const nlohmann::json& params) const;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace vg
