#include "proc/process_control.h"

#include <sys/wait.h>

#include "proc/pidfd.h"
#include "proc/pidfd_signaller.h"

namespace vg {

std::unique_ptr<Signaller> PosixProcessControl::NewSignaller() {
  return std::make_unique<PidfdSignaller>(proc_root_);
}

int PosixProcessControl::OpenExitFd(pid_t pid) { return PidfdOpen(pid); }

std::optional<int> PosixProcessControl::TryReap(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return status;
  return std::nullopt;
}

}  // namespace vg
