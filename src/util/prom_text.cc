#include "util/prom_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace vg {

PromHistogram::PromHistogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void PromHistogram::Observe(double value) {
  if (std::isnan(value)) return;
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // le: value <= bound
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

void PromWriter::Begin(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromWriter::Labels(const PromLabels& labels, std::string_view extra_name,
                        std::string_view extra_value) {
  if (labels.empty() && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    for (char c : v) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_ += '}';
}

void PromWriter::Number(double v) {
  if (std::isnan(v)) {
    out_ += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out_ += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v);
  }
  out_.append(buf, r.ptr);
}

void PromWriter::Sample(std::string_view name, const PromLabels& labels, double value) {
  out_ += name;
  Labels(labels);
  out_ += ' ';
  Number(value);
  out_ += '\n';
}

void PromWriter::Histogram(std::string_view name, const PromLabels& labels,
                           const PromHistogram& h) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
    cumulative += h.counts()[i];
    std::string_view le_text = "+Inf";
    if (i < h.bounds().size()) {
      auto r = std::to_chars(le, le + sizeof le, h.bounds()[i]);
      le_text = std::string_view(le, static_cast<std::size_t>(r.ptr - le));
    }
    out_ += bucket;
    Labels(labels, "le", le_text);
    out_ += ' ';
    Number(static_cast<double>(cumulative));
    out_ += '\n';
  }
  out_ += name;
  out_ += "_sum";
  Labels(labels);
  out_ += ' ';
  Number(h.sum());
  out_ += '\n';
  out_ += name;
  out_ += "_count";
  Labels(labels);
  out_ += ' ';
  Number(static_cast<double>(h.count()));
  out_ += '\n';
}

}  // namespace vg
