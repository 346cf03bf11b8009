// The VRAM ledger: per GPU, what is held, what is promised to admitted jobs, and what a new job
// of a given service could still get — built from one snapshot of plain values.
//
// Pure; the Ledger refers to the snapshot it was built from (which must outlive it) and is
// updated as a planning pass admits jobs; copies are cheap and independent; thread-compatible. All
// sizes are bytes; job sizes are job bytes over the loaded service (core/job_schema.h).
//
// The rule (issue 5, docs/admission.md "The ledger"):
//   claim(s, g) = max(held, min(baseline + Σ estimates of running jobs,
//                              held + Σ estimates of running jobs not yet at their peak))
//     — what service s will hold on GPU g if the estimates are right: its cache is reused by its
//     own jobs first; jobs at their peak are already inside `held`.
//   outstanding(g) = Σ_s claim(s, g) − held(s, g)   (promised, not yet visible to the driver)
//   plannable(g)   = min(driver_free − outstanding, total − Σ_s claim(s, g)) − reserve
//   For a job j of service t on g, the NEW memory it takes is claim'(t, g) − claim(t, g) where
//   claim' adds j as a running job not at its peak; with a stopped service, start_vram + need.
//   It fits when that is ≤ plannable(g). A service's cache therefore serves its own next job
//   without new driver memory; any other service sees it as used until it is released or the
//   service stopped.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "clock/clock.h"
#include "util/units.h"

namespace vg {

struct LedgerGpu {
  unsigned index = 0;  // NVML index
  Bytes total;
  Bytes driver_free;  // what the driver reports free now
  Bytes reserve;      // never planned into
};

enum class ServiceRun { kRunning, kStopped, kStarting };

struct RunningJobSnapshot {
  std::string id;
  unsigned gpu = 0;
  Bytes estimate;                     // job bytes reserved for it
  bool at_peak = false;               // its peak was observed (reservation fully visible)
  std::optional<SteadyTime> started;  // for ETAs
};

struct ServiceSnapshot {
  std::string name;
  std::vector<unsigned> gpus;  // the GPUs it may use (a job runs on one of them)
  ServiceRun state = ServiceRun::kStopped;
  std::map<unsigned, Bytes> held;  // per GPU, NVML use of its members now (model + cache + jobs)
  Bytes baseline;                  // resident per GPU when loaded and idle (model + context)
  std::vector<RunningJobSnapshot> running;
  unsigned concurrency = 1;
  std::optional<SteadyTime> idle_since;  // set while running with no jobs (for the caller's
                                         // idle unload; the planner does not use it)
  std::optional<Millis> startup_time;    // measured time from spawn to ready
  Bytes start_vram;                      // what a start needs per GPU (≥ baseline when known)
  bool has_release_hook = false;         // can give back its cache without a stop

  Bytes HeldOn(unsigned gpu) const;
  bool Idle() const { return state == ServiceRun::kRunning && running.empty(); }
  // baseline if measured, else start_vram.
  Bytes ResidentNeed() const { return baseline.count() ? baseline : start_vram; }
};

struct ClusterSnapshot {
  std::vector<LedgerGpu> gpus;
  std::vector<ServiceSnapshot> services;

  const LedgerGpu* Gpu(unsigned index) const;
  const ServiceSnapshot* Service(const std::string& name) const;
};

class Ledger {
 public:
  explicit Ledger(const ClusterSnapshot& snapshot);
  explicit Ledger(const ClusterSnapshot&& snapshot) = delete;  // it would dangle

  // Memory a job of `service` could newly take on `gpu` (plannable), 0 when none or unknown.
  Bytes Plannable(unsigned gpu) const;
  // New memory a job of `service` needing `need` job bytes takes on `gpu` (start included
  // when the service is stopped).
  Bytes ExtraFor(const std::string& service, unsigned gpu, Bytes need) const;
  // Could it never fit, even on an empty GPU of the service? capacity = max over its GPUs of
  // total − reserve − resident need. Returns that capacity (0 for an unknown service).
  Bytes EmptyCapacity(const std::string& service) const;

  // Records an admission: the service's running set grows by a job not at its peak.
  void Admit(const std::string& service, unsigned gpu, Bytes need);
  // Records a start (the service will hold start_vram on its GPUs) — for a stopped service.
  void Start(const std::string& service);
  // Records that an idle service's cache is released (held → resident) or it is stopped
  // (held → 0) and the memory becomes driver free.
  void Release(const std::string& service);
  void Stop(const std::string& service);

  // Services on `gpu` other than `except` that run no job (in this pass either) and hold
  // memory there: what a release (cache above the resident need, when it has a release hook)
  // or a stop (everything it holds) would give back.
  struct IdleHolder {
    std::string name;
    Bytes held;   // freed by a stop
    Bytes cache;  // freed by a release (0 without a release hook)
    std::optional<Millis> startup;
  };
  std::vector<IdleHolder> IdleHolders(unsigned gpu, const std::string& except) const;
  // Σ held on `gpu` of the idle holders above not named in `excluded` (no allocation).
  template <class Excluded>
  Bytes IdleHeld(unsigned gpu, const std::string& except, const Excluded& excluded) const {
    Bytes sum;
    for (const auto& [name, s] : services_) {
      if (name == except || s.state != ServiceRun::kRunning || s.running != 0) continue;
      if (!excluded.contains(name)) sum += s.HeldOn(gpu);
    }
    return sum;
  }

  // How many jobs the service runs (admitted in this pass included) and its limit.
  unsigned RunningCount(const std::string& service) const;
  const ClusterSnapshot& snapshot() const { return *snap_; }

 private:
  struct SvcState {
    const ServiceSnapshot* snap = nullptr;
    ServiceRun state = ServiceRun::kStopped;
    std::map<unsigned, Bytes> held;
    std::map<unsigned, Bytes> sum_all, sum_not_peak;  // estimates of running jobs per GPU
    unsigned running = 0;
    Bytes HeldOn(unsigned gpu) const;
  };
  struct GpuState {
    const LedgerGpu* snap = nullptr;
    Bytes driver_free;
  };
  Bytes Claim(const SvcState& s, unsigned gpu, Bytes extra_not_peak) const;
  SvcState* Find(const std::string& service);
  const SvcState* Find(const std::string& service) const;

  const ClusterSnapshot* snap_;
  mutable std::map<unsigned, Bytes> plannable_cache_;  // cleared by every change
  std::map<std::string, SvcState> services_;
  std::map<unsigned, GpuState> gpus_;
};

}  // namespace vg
