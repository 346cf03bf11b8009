// The reap executor: carries out a ReapPlan against the real world through adapters and proves
// the result from the driver.
//
// The stop procedure is core/stop_machine.h, the same one the daemon drives asynchronously.
// Sequence: attach every target by pidfd with its planned start time (a recycled PID is never
// signalled) → SIGTERM all → wait up to `grace` → SIGKILL what is left → wait for exit → poll the
// GPU every `poll` until every expected NVML entry is gone (or `release_timeout`). No fixed
// sleeps: exits are waited on pidfds and the first GPU check happens the moment they are gone.
// Not thread-safe; blocks the calling thread for at most grace + exit_timeout + release_timeout.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "clock/clock.h"
#include "core/reap_plan.h"
#include "gpu/gpu_probe.h"
#include "proc/process.h"

namespace vg {

// While the targets are waited on: how many still run and, before SIGKILL, how long is left.
struct ReapWait {
  bool killed = false;                 // SIGKILL was sent (no countdown left)
  std::size_t alive = 0;               // targets still running
  std::chrono::nanoseconds left{0};    // until SIGKILL (before it)
  std::chrono::nanoseconds waited{0};  // since the first signal
};

struct ReapOptions {
  Millis grace{10000};
  Millis exit_timeout{5000};  // after SIGKILL (a process in D state can take a while)
  Millis release_timeout{10000};
  std::chrono::microseconds poll{2000};
  // Called before each wait for the targets' exit, at most every `tick` (the CLI's grace
  // countdown); unset: one wait for the whole remaining grace.
  std::function<void(const ReapWait&)> on_wait;
  Millis tick{250};
};

struct GpuRelease {
  unsigned gpu = 0;
  Bytes expected;                                // what NVML said the vanished entries held
  Bytes freed;                                   // sum over entries that did vanish
  std::optional<Bytes> free_before, free_after;  // device free memory around the reap
  bool verified = false;                         // every expected entry vanished
  std::chrono::nanoseconds back_after{0};        // from all targets exited to memory back
  std::vector<pid_t> still_listed;               // entries that did not vanish
};

struct ReapOutcome {
  std::vector<pid_t> terminated;          // exited after SIGTERM
  std::vector<pid_t> killed;              // needed SIGKILL
  std::vector<pid_t> gone;                // had exited before vramguard got to them
  std::vector<pid_t> survivors;           // still alive after SIGKILL and exit_timeout
  std::vector<std::string> problems;      // per-target failures (recycled PID, permission)
  std::chrono::nanoseconds exit_time{0};  // first signal → last target gone
  std::vector<GpuRelease> gpus;
  bool verified = false;  // every target gone and every expected release seen

  Bytes Freed() const;
};

enum class ReapPhase { kTerm, kKill, kVerify };
using ReapProgress = std::function<void(ReapPhase, const std::string&)>;

class Reaper {
 public:
  Reaper(Signaller& signaller, GpuProbe& gpu, Clock& clock)
      : signaller_(signaller), gpu_(gpu), clock_(clock) {}

  // `before` is the snapshot the plan was made from (for free_before). Fails only when nothing
  // could be attempted (e.g. the GPU cannot be read at all); per-target trouble is in the outcome.
  ReapOutcome Execute(const ReapPlan& plan, const GpuSnapshot& before, const ReapOptions& options,
                      const ReapProgress& progress = {});

 private:
  class Releases;

  Signaller& signaller_;
  GpuProbe& gpu_;
  Clock& clock_;
};

}  // namespace vg
