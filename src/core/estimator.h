// Per-service estimate of a job's VRAM need (job bytes over the loaded service, see
// core/job_schema.h) from its parameters: a prior from the sizing table, replaced progressively
// by a model learned online from observed peaks, with an upper-quantile margin.
//
// Pure and deterministic; one Estimator per service, owned by the caller; thread-compatible
// (no internal locking). Observe is O(log distinct features); Predict is O(log rows + number of
// distinct features with an OOM or a censored bound) — cheap enough to call per submission. The
// model is described in docs/admission.md, "How estimates are made".
//
// The model, in short (u = ln x, x = MemoryFeature(params)):
//   prior(x):   log–log interpolation between sizing rows; beyond the rows, the nearest
//               segment's slope (one row: need ∝ x); never below zero (it is an exponential).
//   learned(x): least squares ln(bytes) = a + b·u over exact observations (slope from the prior
//               until two distinct features were seen); residual spread σ in log space.
//   central:    exp((1−w)·ln prior + w·ln learned), w = n/(n+1), n = exact observations.
//   margin:     × exp(max(k·σ_w, ln(1+floor))), σ_w = (1−w)·prior_sigma + w·σ.
//   censoring:  at-most observations cap the estimate at the bound (for x ≤ the observed x) but
//               never raise it and never push it below an exact observation at that x;
//               at-least observations (OOM) raise the estimate to ≥ bound×(1+floor) for
//               x ≥ the observed x and scale it up near the observed x (decaying with |Δu|).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/job_schema.h"
#include "util/units.h"

namespace vg {

enum class ObservationKind {
  kExact,    // the service's usage rose above what it held before: need = peak − baseline
             // (exact and at-most observations under 1 MiB are ignored: baseline drift or
             // a peak the sampling missed)
  kAtMost,   // censored: usage did not rise above what it held (cache); need ≤ bytes
  kAtLeast,  // an OOM at these params: need > held + requested − baseline = bytes
};

struct Observation {
  JobParams params;
  Bytes bytes;  // job bytes (over the loaded service)
  ObservationKind kind = ObservationKind::kExact;
};

// What a finished job's VRAM samples say (the caller samples the service's members every
// ≤ 100 ms while the job runs). `baseline`: the service's resident memory (model + context);
// `held_before`: its usage on the job's GPU when the job started (baseline + cache);
// `peak`: the highest sample while it ran; `concurrent`: another job of the service overlapped.
//   peak > held_before and alone → exact, need = peak − baseline;
//   otherwise → at-most, need ≤ peak − baseline (the cache or the other job hid the growth).
Observation ObservationFromPeak(JobParams params, Bytes baseline, Bytes held_before, Bytes peak,
                                bool concurrent);
// An OOM while the job ran: it needed more than `held` (the service's usage when it failed)
// plus `requested` (PyTorch's "Tried to allocate") minus `baseline` → at-least.
Observation ObservationFromOom(JobParams params, Bytes baseline, Bytes held, Bytes requested);

struct Estimate {
  Bytes bytes;         // what to reserve for the job (upper quantile)
  Bytes prior;         // the sizing table's answer alone, without margin (0 without a table)
  std::string source;  // "prior", "learned(n=12)", "none"; "+oom" / "+capped" when bounds apply
};

struct EstimatorOptions {
  double k_sigma = 2.0;        // margin in residual standard deviations (log space)
  double floor_margin = 0.03;  // at least +3 %
  double prior_sigma = 0.10;   // the sizing table's assumed spread (log space, ~10 %)
  double oom_width = 0.7;      // OOM influence decays as exp(−|Δu|/oom_width) below the OOM's x
};

class Estimator {
 public:
  explicit Estimator(JobSchema schema, EstimatorOptions options = {});

  void Observe(const Observation& obs);
  Estimate Predict(const JobParams& params) const;

  // The sizing table's interpolation alone (no margin); 0 without sizing rows.
  Bytes Prior(const JobParams& params) const;

  int exact_count() const { return n_; }
  const JobSchema& schema() const { return schema_; }

 private:
  struct Point {
    double u;  // ln feature
    double v;  // ln bytes
  };
  double PriorLog(double u) const;  // ln bytes; NaN without rows
  double PriorSlope(double u) const;

  JobSchema schema_;
  EstimatorOptions options_;
  std::vector<Point> rows_;  // sorted by u, one per distinct feature (max bytes)

  // Online least squares over exact observations (centred sums, Welford style).
  int n_ = 0;
  double mean_u_ = 0, mean_v_ = 0, suu_ = 0, svv_ = 0, suv_ = 0;

  // Per distinct feature (ln x): bounds learned from observations.
  std::map<double, double> exact_max_;  // u → max ln bytes observed exactly
  std::map<double, double> at_most_;    // u → min ln bound (need ≤)
  std::map<double, double> at_least_;   // u → max ln bound (need >)
};

}  // namespace vg
