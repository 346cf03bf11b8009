// Time as an interface, so code under test never sleeps to wait for a timeout.
//
// SystemClock is the production clock (steady_clock + nanosleep). FakeClock (src/testing/)
// advances only when told or when something sleeps on it. Implementations are thread-compatible:
// one clock per thread of use.
#pragma once

#include <chrono>

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

}  // namespace vg
