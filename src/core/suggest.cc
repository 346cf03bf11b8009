#include "core/suggest.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace vg {
namespace {

using nlohmann::json;

bool Numeric(const ParamSpec& p) {
  return p.type == ParamSpec::Type::kInt || p.type == ParamSpec::Type::kFloat;
}

double Value(const JobParams& params, const ParamSpec& p) {
  auto it = params.find(p.name);
  if (it != params.end() && it->second.is_number()) return it->second.get<double>();
  if (p.default_value && p.default_value->is_number()) return p.default_value->get<double>();
  return 0;
}

json AsJson(const ParamSpec& p, double v) {
  if (p.type == ParamSpec::Type::kInt) return json(static_cast<long long>(std::llround(v)));
  return json(v);
}

// Allowed values of `p` strictly below `current`, ascending (choices), or the range bounds.
std::vector<double> ChoicesBelow(const ParamSpec& p, double current) {
  std::vector<double> out;
  for (const json& c : p.choices) {
    if (c.is_number() && c.get<double>() < current) out.push_back(c.get<double>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

double RangeMin(const ParamSpec& p) {
  if (p.min) return std::max(*p.min, p.type == ParamSpec::Type::kInt ? 1.0 : 1e-9);
  return p.type == ParamSpec::Type::kInt ? 1.0 : 1e-9;
}

struct Searcher {
  const Estimator& est;
  Bytes capacity;
  std::size_t predictions = 0;

  std::optional<Bytes> Fits(const JobParams& params) {
    ++predictions;
    Bytes b = est.Predict(params).bytes;
    if (b <= capacity) return b;
    return std::nullopt;
  }

  // The largest value of `p` below its value in `base` with which `base` fits.
  std::optional<double> LargestFitting(JobParams base, const ParamSpec& p) {
    double current = Value(base, p);
    auto fits_at = [&](double v) {
      base[p.name] = AsJson(p, v);
      return Fits(base).has_value();
    };
    if (!p.choices.empty()) {
      std::vector<double> below = ChoicesBelow(p, current);
      for (auto it = below.rbegin(); it != below.rend(); ++it) {
        if (fits_at(*it)) return *it;
      }
      return std::nullopt;
    }
    double lo = RangeMin(p);
    if (p.type == ParamSpec::Type::kInt) {
      long long a = static_cast<long long>(std::ceil(lo));
      long long b = static_cast<long long>(std::ceil(current)) - 1;
      if (b < a || !fits_at(static_cast<double>(a))) return std::nullopt;
      while (a < b) {  // invariant: a fits
        long long mid = a + (b - a + 1) / 2;
        if (fits_at(static_cast<double>(mid))) {
          a = mid;
        } else {
          b = mid - 1;
        }
      }
      return static_cast<double>(a);
    }
    if (!(lo < current) || !fits_at(lo)) return std::nullopt;
    double a = lo, b = current;
    for (int i = 0; i < 48; ++i) {
      double mid = std::sqrt(a * b);
      if (fits_at(mid)) {
        a = mid;
      } else {
        b = mid;
      }
    }
    return a;
  }
};

double Distance(const ParamSpec& p, double from, double to) {
  if (!p.choices.empty()) {
    std::vector<double> all;
    for (const json& c : p.choices) {
      if (c.is_number()) all.push_back(c.get<double>());
    }
    std::sort(all.begin(), all.end());
    auto idx = [&](double v) {
      return static_cast<double>(std::lower_bound(all.begin(), all.end(), v) - all.begin());
    };
    double span = all.size() > 1 ? static_cast<double>(all.size() - 1) : 1.0;
    return std::fabs(idx(from) - idx(to)) / span;
  }
  double lo = RangeMin(p);
  double hi = p.max ? *p.max : std::max(from, lo * 2);
  double span = std::log(hi) - std::log(lo);
  if (!(span > 0)) span = 1;
  return std::fabs(std::log(std::max(from, lo)) - std::log(std::max(to, lo))) / span;
}

}  // namespace

std::vector<Suggestion> Suggest(const Estimator& estimator, const JobParams& wanted, Bytes capacity,
                                std::size_t max_count) {
  const JobSchema& schema = estimator.schema();
  std::vector<const ParamSpec*> drivers;
  for (const ParamSpec& p : schema.params) {
    if (Numeric(p) && p.memory_exponent > 0) drivers.push_back(&p);
  }
  Searcher s{estimator, capacity};
  std::vector<Suggestion> found;
  auto add = [&](JobParams params) {
    std::optional<Bytes> b = s.Fits(params);
    if (!b) return;
    double dist = 0;
    for (const ParamSpec* p : drivers) dist += Distance(*p, Value(wanted, *p), Value(params, *p));
    for (const Suggestion& f : found) {
      if (f.params == params) return;
    }
    found.push_back({std::move(params), *b, dist});
  };

  // One parameter changed: its largest fitting value.
  std::vector<std::optional<double>> single(drivers.size());
  for (std::size_t i = 0; i < drivers.size(); ++i) {
    single[i] = s.LargestFitting(wanted, *drivers[i]);
    if (single[i]) {
      JobParams p = wanted;
      p[drivers[i]->name] = AsJson(*drivers[i], *single[i]);
      add(std::move(p));
    }
  }
  // Two changed: a milder change of the first (above what fits alone), the largest fitting
  // value of the second.
  for (std::size_t i = 0; i < drivers.size(); ++i) {
    const ParamSpec& a = *drivers[i];
    double current = Value(wanted, a);
    std::vector<double> values;
    if (!a.choices.empty()) {
      values = ChoicesBelow(a, current);
    } else {
      double lo = RangeMin(a);
      for (int k = 1; k <= 12; ++k) {
        double v = current * std::pow(lo / current, k / 12.0);
        if (a.type == ParamSpec::Type::kInt) v = std::floor(v);
        if (v < current && v >= lo) values.push_back(v);
      }
      std::sort(values.begin(), values.end());
      values.erase(std::unique(values.begin(), values.end()), values.end());
    }
    for (double v : values) {
      if (single[i] && v <= *single[i]) continue;  // dominated by the single change
      JobParams base = wanted;
      base[a.name] = AsJson(a, v);
      for (std::size_t j = 0; j < drivers.size(); ++j) {
        if (j == i) continue;
        std::optional<double> w = s.LargestFitting(base, *drivers[j]);
        if (!w) continue;
        JobParams p = base;
        p[drivers[j]->name] = AsJson(*drivers[j], *w);
        add(std::move(p));
      }
    }
  }
  std::stable_sort(found.begin(), found.end(), [](const Suggestion& x, const Suggestion& y) {
    if (x.distance != y.distance) return x.distance < y.distance;
    return x.estimate > y.estimate;
  });
  if (found.size() > max_count) found.resize(max_count);
  return found;
}

std::string DescribeRefusal(const JobSchema& schema, const JobParams& wanted, Bytes need,
                            Bytes capacity, const std::vector<Suggestion>& suggestions) {
  std::string out = DescribeParams(schema, wanted) + " needs ~" + FormatBytes(need) + ", " +
                    FormatBytes(capacity) + " plannable";
  if (suggestions.empty()) return out + "; no allowed parameters fit";
  out += "; fits: ";
  for (std::size_t i = 0; i < suggestions.size(); ++i) {
    if (i) out += ", ";
    out += DescribeParams(schema, suggestions[i].params) + " (~" +
           FormatBytes(suggestions[i].estimate) + ")";
  }
  return out;
}

}  // namespace vg
