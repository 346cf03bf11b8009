#include "clock/clock.h"

#include <thread>

namespace vg {

void SystemClock::SleepFor(std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); }

}  // namespace vg
