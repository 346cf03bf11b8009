#include "core/estimator.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vg {
namespace {

constexpr double kSlopeRidge = 0.02;  // pseudo-spread (in u²) that holds the slope to the prior's

double LogBytes(Bytes b) {
  return std::log(static_cast<double>(std::max<std::uint64_t>(b.count(), 1)));
}

Bytes FromLog(double v) {
  if (std::isnan(v) || v < 0) return Bytes(v < 0 ? 1 : 0);
  double e = std::exp(v);
  double r = std::round(e);
  // Exact bytes back from their logarithm (a sizing row, an observation), else round up.
  double b = std::fabs(e - r) <= 1e-9 * e ? r : std::ceil(e);
  if (b >= 1.8e19) return Bytes(std::numeric_limits<std::uint64_t>::max());
  return Bytes(static_cast<std::uint64_t>(b));
}

}  // namespace

Observation ObservationFromPeak(JobParams params, Bytes baseline, Bytes held_before, Bytes peak,
                                bool concurrent) {
  Observation o;
  o.params = std::move(params);
  o.bytes = peak - baseline;
  o.kind = peak > held_before && !concurrent ? ObservationKind::kExact : ObservationKind::kAtMost;
  return o;
}

Observation ObservationFromOom(JobParams params, Bytes baseline, Bytes held, Bytes requested) {
  return {std::move(params), held + requested - baseline, ObservationKind::kAtLeast};
}

Estimator::Estimator(JobSchema schema, EstimatorOptions options)
    : schema_(std::move(schema)), options_(options) {
  std::map<double, double> by_u;
  for (const SizingRow& row : schema_.sizing) {
    double u = std::log(MemoryFeature(schema_, row.params));
    double v = LogBytes(row.bytes);
    auto [it, inserted] = by_u.emplace(u, v);
    if (!inserted) it->second = std::max(it->second, v);
  }
  for (const auto& [u, v] : by_u) rows_.push_back({u, v});
}

double Estimator::PriorSlope(double u) const {
  if (rows_.size() < 2) return 1.0;
  std::size_t i = 0;  // segment [i, i+1]
  if (u >= rows_.back().u) {
    i = rows_.size() - 2;
  } else if (u > rows_.front().u) {
    auto it = std::upper_bound(rows_.begin(), rows_.end(), u,
                               [](double x, const Point& p) { return x < p.u; });
    i = static_cast<std::size_t>(it - rows_.begin()) - 1;
  }
  return (rows_[i + 1].v - rows_[i].v) / (rows_[i + 1].u - rows_[i].u);
}

double Estimator::PriorLog(double u) const {
  if (rows_.empty()) return std::numeric_limits<double>::quiet_NaN();
  if (rows_.size() == 1) return rows_[0].v + (u - rows_[0].u);
  // Exact at the rows (no rounding through the slope).
  auto it = std::lower_bound(rows_.begin(), rows_.end(), u,
                             [](const Point& p, double x) { return p.u < x; });
  if (it != rows_.end() && it->u == u) return it->v;
  const Point& anchor = u < rows_.front().u ? rows_.front() : *(std::prev(it));
  return anchor.v + PriorSlope(u) * (u - anchor.u);
}

Bytes Estimator::Prior(const JobParams& params) const {
  if (rows_.empty()) return Bytes(0);
  return FromLog(PriorLog(std::log(MemoryFeature(schema_, params))));
}

void Estimator::Observe(const Observation& obs) {
  double u = std::log(MemoryFeature(schema_, obs.params));
  double v = LogBytes(obs.bytes);
  // A job that seemed to need (almost) nothing is a baseline drift or a peak the sampling missed:
  // no information, neither a point on the curve nor a bound.
  if (obs.kind != ObservationKind::kAtLeast && obs.bytes < Bytes::MiB(1)) return;
  switch (obs.kind) {
    case ObservationKind::kExact: {
      ++n_;
      double du = u - mean_u_;
      double dv = v - mean_v_;
      mean_u_ += du / n_;
      mean_v_ += dv / n_;
      suu_ += du * (u - mean_u_);
      svv_ += dv * (v - mean_v_);
      suv_ += du * (v - mean_v_);
      auto [it, inserted] = exact_max_.emplace(u, v);
      if (!inserted) it->second = std::max(it->second, v);
      break;
    }
    case ObservationKind::kAtMost: {
      auto [it, inserted] = at_most_.emplace(u, v);
      if (!inserted) it->second = std::min(it->second, v);
      break;
    }
    case ObservationKind::kAtLeast: {
      auto [it, inserted] = at_least_.emplace(u, v);
      if (!inserted) it->second = std::max(it->second, v);
      break;
    }
  }
}

Estimate Estimator::Predict(const JobParams& params) const {
  const double u = std::log(MemoryFeature(schema_, params));
  const double floor_v = std::log1p(options_.floor_margin);
  const bool has_prior = !rows_.empty();

  // Central estimate and margin (before bounds), as a function of u.
  auto base = [&](double at) -> double {
    double prior_v = has_prior ? PriorLog(at) : 0;
    if (n_ == 0 && !has_prior) return std::numeric_limits<double>::quiet_NaN();
    double central = prior_v;
    double sigma = options_.prior_sigma;
    if (n_ > 0) {
      double b0 = has_prior ? PriorSlope(at) : 1.0;
      double b = (suv_ + kSlopeRidge * b0) / (suu_ + kSlopeRidge);
      double learned = mean_v_ + b * (at - mean_u_);
      double sse = std::max(0.0, svv_ - 2 * b * suv_ + b * b * suu_);
      double fit_sigma = n_ >= 3 ? std::sqrt(sse / (n_ - 2)) : options_.prior_sigma;
      double w = has_prior ? static_cast<double>(n_) / (n_ + 1) : 1.0;
      central = (1 - w) * prior_v + w * learned;
      sigma = (1 - w) * options_.prior_sigma + w * fit_sigma;
    }
    double v = central + std::max(options_.k_sigma * sigma, floor_v);
    if (auto it = exact_max_.find(at); it != exact_max_.end())
      v = std::max(v, it->second + floor_v);
    return v;
  };

  Estimate out;
  out.prior = has_prior ? FromLog(PriorLog(u)) : Bytes(0);
  const double base_u = base(u);
  double v = base_u;
  bool no_model = std::isnan(v);
  if (no_model) v = -std::numeric_limits<double>::infinity();

  // OOMs: need > L at u_o. At and above u_o the estimate is at least L (+floor); the model's
  // shortfall at u_o lifts the curve there and, decaying, below it.
  bool raised = false;
  double lower = -std::numeric_limits<double>::infinity();
  for (const auto& [uo, lo] : at_least_) {
    double want = lo + floor_v;
    if (u >= uo) lower = std::max(lower, want);
    double at_o = base(uo);
    double delta = std::isnan(at_o) ? 0 : std::max(0.0, want - at_o);
    double decay = u >= uo ? 1.0 : std::exp(-(uo - u) / options_.oom_width);
    if (!no_model && delta * decay > 0) {
      v = std::max(v, base_u + delta * decay);
      raised = true;
    }
  }
  if (lower > v) {
    v = lower;
    raised = true;
  }

  // Censored observations: need ≤ B at u_c, hence for every u ≤ u_c. Only ever lowers.
  bool capped = false;
  double cap = std::numeric_limits<double>::infinity();
  for (auto it = at_most_.lower_bound(u); it != at_most_.end(); ++it)
    cap = std::min(cap, it->second);
  double keep = lower;  // never below an OOM's lower bound or an exact observation here
  if (auto it = exact_max_.find(u); it != exact_max_.end()) keep = std::max(keep, it->second);
  if (cap < v && std::max(cap, keep) < v) {
    v = std::max(cap, keep);
    capped = true;
  }

  if (std::isinf(v) && v < 0) {
    out.bytes = Bytes(0);
    out.source = "none";
    return out;
  }
  out.bytes = FromLog(v);
  out.source = n_ > 0 ? "learned(n=" + std::to_string(n_) + ")" : (has_prior ? "prior" : "none");
  if (raised) out.source += "+oom";
  if (capped) out.source += "+capped";
  return out;
}

}  // namespace vg
