#include "proc/pidfd.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vg {
namespace {

#ifdef SYS_pidfd_open
constexpr long kSysPidfdOpen = SYS_pidfd_open;
#else
constexpr long kSysPidfdOpen = 434;
#endif
#ifdef SYS_pidfd_send_signal
constexpr long kSysPidfdSendSignal = SYS_pidfd_send_signal;
#else
constexpr long kSysPidfdSendSignal = 424;
#endif

}  // namespace

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(kSysPidfdOpen, pid, 0)); }

int PidfdSendSignal(int fd, int sig) {
  return static_cast<int>(::syscall(kSysPidfdSendSignal, fd, sig, nullptr, 0));
}

bool PidfdExited(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

}  // namespace vg
