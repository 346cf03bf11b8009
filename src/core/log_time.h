// The log's own clock: the time a log line says it was written, read from its prefix.
//
// The classifier merges the lines of one cause into one incident by how close they are. Lines
// count for most logs; a log whose lines carry timestamps says more: an allocator dump or a
// kernel OOM report of a thousand lines was printed within a second (one cause), and two kernel
// OOM kills two hours apart are two causes even when nothing came between them.
//
// Recognised at the start of a line (after at most kLeadBytes of other prefix, e.g. a host name or
// a "<3>" priority):
//   dmesg           "[ 1234.567890] …"                    seconds since boot
//   ISO 8601 / SQL  "2024-04-29T14:55:41,678628+02:00 …", "2019-08-18 03:55:10.593121: …"
//   syslog          "Apr 25 06:31:56 host kernel: …"     (no year: times within one year)
//   glog            "E0323 20:28:49.804409 …"            (no year)
//   TensorRT        "[08/03/2022-23:18:05] …"
// Times of different formats are never compared (Comparable). Zone offsets are ignored: one log
// is one zone. Pure; reads at most the line's first kScanBytes.
#pragma once

#include <optional>
#include <string_view>

namespace vg {

struct LogTime {
  enum class Clock { kBoot, kCalendar, kYearless };
  Clock clock = Clock::kCalendar;
  double seconds = 0;  // since boot, since 1970-01-01, or since 1 January of an unknown year
};

inline constexpr std::size_t kLogTimeScanBytes = 64;

// The time at the start of `line`, if it has one of the forms above.
std::optional<LogTime> ParseLogTime(std::string_view line);

// Seconds from `a` to `b` when both are on the same clock.
std::optional<double> SecondsBetween(const LogTime& a, const LogTime& b);

}  // namespace vg
