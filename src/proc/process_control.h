// ProcessControl: what the supervisor does to processes other than starting them (proc/spawner.h)
// and listing them (proc/process.h) — signal with identity checks, learn of an exit, collect an
// exit status — behind one interface, so the supervisor's races can be unit-tested with a fake
// (src/testing/fake_world.h) instead of being found by luck.
//
// Production: PosixProcessControl — pidfds (PidfdSignaller) and waitpid. Not thread-safe; the
// daemon's loop thread only.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "proc/process.h"

namespace vg {

class ProcessControl {
 public:
  virtual ~ProcessControl() = default;
  // A signaller of its own for one stop: its attachments and handles are not shared, so two
  // services stopping at once never detach each other's processes.
  virtual std::unique_ptr<Signaller> NewSignaller() = 0;
  // A descriptor that becomes readable once pid has exited (a pidfd), or -1 when pid is gone.
  // The caller owns and closes it.
  virtual int OpenExitFd(pid_t pid) = 0;
  // The wait status of pid when it is our child and has exited (waitpid WNOHANG), else nullopt.
  virtual std::optional<int> TryReap(pid_t pid) = 0;
};

class PosixProcessControl final : public ProcessControl {
 public:
  explicit PosixProcessControl(std::string proc_root = "/proc")
      : proc_root_(std::move(proc_root)) {}
  std::unique_ptr<Signaller> NewSignaller() override;
  int OpenExitFd(pid_t pid) override;
  std::optional<int> TryReap(pid_t pid) override;

 private:
  std::string proc_root_;
};

}  // namespace vg
