// Thin wrappers over the pidfd system calls (Linux ≥ 5.3), so the syscall numbers and their
// fallbacks live in one place. Errors are reported the C way (-1 and errno): the callers decide
// what a failure means for them. Thread-safe.
#pragma once

#include <sys/types.h>

namespace vg {

// pidfd_open(pid, 0): an O_CLOEXEC descriptor that refers to that very process, or -1.
int PidfdOpen(pid_t pid);
// pidfd_send_signal(fd, sig, nullptr, 0): 0, or -1 with errno (ESRCH once it has exited).
int PidfdSendSignal(int fd, int sig);
// Whether the process has exited (the descriptor is readable); never blocks.
bool PidfdExited(int fd);

}  // namespace vg
