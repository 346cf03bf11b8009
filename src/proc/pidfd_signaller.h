// Signaller that never signals a recycled pid: each pid is pinned with a pidfd whose identity is
// checked against the start time the caller saw when it chose the pid.
//
// Contract:
//  - Attach(pid, start_time) opens the pidfd FIRST and only then reads <proc_root>/<pid>/stat:
//    if the start time there matches, the pidfd refers to that very process (a process with that
//    start time existed before the pidfd was opened and still does), and every later Signal goes
//    through the pidfd, which can never reach another process. A mismatch closes the pidfd and
//    returns kRefused; a missing process kNotFound; pid <= 0 or a thread id kInvalidArgument.
//  - Signal(pid, sig) uses pidfd_send_signal. A process that already exited (zombie or reaped)
//    counts as signalled. EPERM → kPermissionDenied naming the owner. A pid that was not
//    attached → kInvalidArgument.
//  - WaitForExit polls the pidfds (readable once the process has exited, also for processes that
//    are not our children; a zombie counts as exited), restarting on EINTR with the remaining
//    time. Pids that were never attached are watched through <proc_root> (gone or zombie).
//  - Fallback, weaker guarantee: when the kernel has no pidfds (ENOSYS: Linux < 5.3, or a seccomp
//    filter) or Mode::kKillOnly is chosen, Attach only checks the start time, and each Signal
//    re-reads it immediately before kill(). A pid recycled in the microseconds between that read
//    and kill() could still be hit; WaitForExit then polls <proc_root> every millisecond.
//  - Descriptors are O_CLOEXEC; DetachAll and the destructor close them. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "proc/process.h"
#include "util/error.h"

namespace vg {

class PidfdSignaller final : public Signaller {
 public:
  enum class Mode {
    kAuto,      // pidfds when the kernel has them, else the kill() fallback
    kKillOnly,  // always the kill() fallback (tests; kernels that block pidfds other than ENOSYS)
  };

  explicit PidfdSignaller(std::string proc_root = "/proc", Mode mode = Mode::kAuto);
  ~PidfdSignaller() override;
  PidfdSignaller(const PidfdSignaller&) = delete;
  PidfdSignaller& operator=(const PidfdSignaller&) = delete;

  Result<void> Attach(pid_t pid, std::uint64_t start_time) override;
  Result<void> Signal(pid_t pid, int sig) override;
  std::vector<pid_t> WaitForExit(const std::vector<pid_t>& pids,
                                 std::chrono::nanoseconds timeout) override;
  void DetachAll() override;

  // Whether pidfds are in use (false after the kernel said ENOSYS, or in kKillOnly mode).
  bool UsesPidfds() const { return use_pidfds_; }

 private:
  struct Attached {
    int fd = -1;  // pidfd; -1 in the kill() fallback
    std::uint64_t start_time = 0;
  };

  // Whether pid (with start_time, when known) has exited according to <proc_root>.
  bool ExitedPerProc(pid_t pid, const std::uint64_t* start_time) const;
  Error PermissionError(pid_t pid) const;

  std::string proc_root_;
  bool use_pidfds_;
  std::map<pid_t, Attached> attached_;
};

}  // namespace vg
