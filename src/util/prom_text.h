// The Prometheus text exposition format (version 0.0.4), written by hand: families with their
// HELP and TYPE lines, samples with escaped labels, and cumulative histograms.
//
// Contract:
//  - Begin() starts a family: `# HELP` (backslash and newline escaped) and `# TYPE`. Every
//    sample of a family must follow its Begin() before the next family starts (the format's
//    rule; promtool checks it).
//  - Label values are escaped (`\`, `"`, newline); names are the caller's, never user text.
//  - Numbers: integers below 2^53 exactly, others in the shortest form that reads back the same;
//    +Inf, -Inf and NaN as the format spells them.
//  - Histogram: fixed upper bounds chosen when it is made; Observe() is O(log buckets); the
//    text has the cumulative `_bucket{le=…}` lines, `+Inf`, `_sum` and `_count`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vg {

using PromLabels = std::vector<std::pair<std::string_view, std::string_view>>;

class PromHistogram {
 public:
  explicit PromHistogram(std::vector<double> upper_bounds);  // ascending, finite
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }  // per bucket, +Inf last
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class PromWriter {
 public:
  // type: "gauge", "counter" or "histogram".
  void Begin(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const PromLabels& labels, double value);
  void Histogram(std::string_view name, const PromLabels& labels, const PromHistogram& h);
  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Labels(const PromLabels& labels, std::string_view extra_name = {},
              std::string_view extra_value = {});
  void Number(double v);
  std::string out_;
};

}  // namespace vg
