#include "util/units.h"

#include "util/strings.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

namespace vg {
namespace {

// Splits "12.5GiB" into 12.5 and "gib". Fails when there is no leading number.
bool SplitNumber(std::string_view text, double* number, std::string* unit) {
  text = TrimSpace(text);
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return false;
  std::string num(text.substr(0, i));
  char* end = nullptr;
  *number = std::strtod(num.c_str(), &end);
  if (end == num.c_str() || *end != '\0' || !std::isfinite(*number)) return false;
  *unit = AsciiLower(TrimSpace(text.substr(i)));
  return true;
}

}  // namespace

Result<Bytes> ParseBytes(std::string_view text) {
  double number = 0;
  std::string unit;
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument, "invalid size '" + std::string(text) + "'",
                "write a size like 14GiB, 512MiB or 10GB");
  };
  if (!SplitNumber(text, &number, &unit)) return bad();
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kib")
    scale = 1024.0;
  else if (unit == "m" || unit == "mib")
    scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb")
    scale = 1e3;
  else if (unit == "mb")
    scale = 1e6;
  else if (unit == "gb")
    scale = 1e9;
  else if (unit == "tb")
    scale = 1e12;
  else
    return bad();
  double bytes = number * scale;
  if (bytes > 1.8e19) return bad();
  return Bytes(static_cast<std::uint64_t>(std::llround(bytes)));
}

std::string FormatBytes(Bytes b) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (b.count() < 1024) return std::to_string(b.count()) + " B";
  double v = static_cast<double>(b.count()) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

Result<Millis> ParseDuration(std::string_view text) {
  double number = 0;
  std::string unit;
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument, "invalid duration '" + std::string(text) + "'",
                "write a duration like 10s, 500ms, 2m or 1h");
  };
  if (!SplitNumber(text, &number, &unit)) return bad();
  double ms = 0;
  if (unit == "ms")
    ms = number;
  else if (unit == "s" || unit.empty())
    ms = number * 1e3;
  else if (unit == "m" || unit == "min")
    ms = number * 60e3;
  else if (unit == "h")
    ms = number * 3600e3;
  else
    return bad();
  if (ms > 1e12) return bad();
  return Millis(static_cast<std::int64_t>(std::llround(ms)));
}

std::string FormatSeconds(std::chrono::nanoseconds d) {
  char buf[32];
  double s = ToSeconds(d);
  if (s < 0.001) {
    std::snprintf(buf, sizeof buf, "%.0f µs", s * 1e6);
  } else if (s < 0.1) {
    std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  } else if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  } else {
    // A minute and more in whole units, as a person writes it: "1h", "1m 30s", "2h 5m".
    const long long total = std::llround(s);
    const long long h = total / 3600;
    const long long m = total % 3600 / 60;
    const long long sec = total % 60;
    std::string out;
    if (h > 0) out += std::to_string(h) + "h";
    if (m > 0) out += (out.empty() ? "" : " ") + std::to_string(m) + "m";
    if (sec > 0 && h == 0) out += (out.empty() ? "" : " ") + std::to_string(sec) + "s";
    return out;
  }
  return buf;
}

}  // namespace vg
