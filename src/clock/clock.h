// Time as an interface, so code under test never sleeps to wait for a timeout.
//
// SystemClock is the production clock (steady_clock + nanosleep). FakeClock (src/testing/)
// advances only when told or when something sleeps on it. Implementations are thread-compatible:
// one clock per thread of use.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vg {

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime Now() = 0;
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;
};

class SystemClock final : public Clock {
 public:
  SteadyTime Now() override { return std::chrono::steady_clock::now(); }
  void SleepFor(std::chrono::nanoseconds d) override;
};

// Wall-clock time as Unix epoch milliseconds: the timestamps of events, instances and jobs
// (`_unix_ms` fields). Not for measuring intervals (use a Clock).
std::int64_t UnixNowMs();

// "2026-11-27T03:58:03.123Z" (UTC, millisecond precision) for a Unix epoch millisecond time.
std::string FormatUnixMs(std::int64_t unix_ms);

}  // namespace vg
