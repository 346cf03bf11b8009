#include "proc/pidfd_signaller.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "proc/pidfd.h"
#include "proc/procfs.h"

namespace vg {
namespace {

// While watching pids without a pidfd, /proc is checked this often.
constexpr std::chrono::milliseconds kProcPollInterval{1};

std::string PidText(pid_t pid) { return "pid " + std::to_string(pid); }

std::unexpected<Error> RecycledError(pid_t pid) {
  return Fail(ErrorCode::kRefused,
              PidText(pid) + " was recycled (start time changed); not signalling it",
              "the process chosen earlier has exited; list processes again");
}

timespec ToTimespec(std::chrono::nanoseconds d) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  timespec ts;
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>((d - secs).count());
  return ts;
}

}  // namespace

PidfdSignaller::PidfdSignaller(std::string proc_root, Mode mode)
    : proc_root_(std::move(proc_root)), use_pidfds_(mode == Mode::kAuto) {}

PidfdSignaller::~PidfdSignaller() { DetachAll(); }

Result<void> PidfdSignaller::Attach(pid_t pid, std::uint64_t start_time) {
  if (pid <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid " + PidText(pid));
  if (auto it = attached_.find(pid); it != attached_.end()) {
    if (it->second.fd >= 0) ::close(it->second.fd);
    attached_.erase(it);
  }

  // The pidfd first, the start time second: see the header for why this order is what makes
  // the check sound.
  int fd = -1;
  if (use_pidfds_) {
    fd = PidfdOpen(pid);
    if (fd < 0) {
      const int err = errno;
      switch (err) {
        case ENOSYS:
          use_pidfds_ = false;  // old kernel or seccomp: the kill() fallback from now on
          break;
        case ESRCH:
          return Fail(ErrorCode::kNotFound, "no process with " + PidText(pid),
                      "it has exited already");
        case EPERM:
        case EACCES:
          return std::unexpected(PermissionError(pid));
        case EINVAL:
          return Fail(ErrorCode::kInvalidArgument,
                      PidText(pid) + " is not a process (a thread id?)");
        default:
          return std::unexpected(ErrnoError("pidfd_open(" + PidText(pid) + ")", err));
      }
    }
  }

  Result<procfs::StatFields> stat = ReadProcStat(proc_root_, pid);
  if (!stat || stat->start_time != start_time) {
    if (fd >= 0) ::close(fd);
    if (stat) return RecycledError(pid);
    if (stat.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, "no process with " + PidText(pid), "it has exited already");
    }
    return std::unexpected(std::move(stat.error()));
  }
  attached_[pid] = Attached{fd, start_time};
  return {};
}

Result<void> PidfdSignaller::Signal(pid_t pid, int sig) {
  const auto it = attached_.find(pid);
  if (it == attached_.end()) {
    return Fail(ErrorCode::kInvalidArgument, PidText(pid) + " is not attached",
                "attach it (with its start time) before signalling it");
  }
  const Attached& target = it->second;
  if (target.fd >= 0) {
    if (PidfdSendSignal(target.fd, sig) == 0) return {};
    const int err = errno;
    if (err == ESRCH) return {};  // exited and reaped
    if (err == EPERM) return std::unexpected(PermissionError(pid));
    return std::unexpected(ErrnoError("pidfd_send_signal(" + PidText(pid) + ")", err));
  }

  // Fallback: re-check the start time right before kill().
  Result<procfs::StatFields> stat = ReadProcStat(proc_root_, pid);
  if (!stat) {
    if (stat.error().code == ErrorCode::kNotFound) return {};  // exited
    return std::unexpected(std::move(stat.error()));
  }
  if (stat->start_time != target.start_time) return {};  // ours exited; the pid is another's now
  if (::kill(pid, sig) == 0) return {};
  const int err = errno;
  if (err == ESRCH) return {};
  if (err == EPERM) return std::unexpected(PermissionError(pid));
  return std::unexpected(ErrnoError("kill(" + PidText(pid) + ")", err));
}

std::vector<pid_t> PidfdSignaller::WaitForExit(const std::vector<pid_t>& pids,
                                               std::chrono::nanoseconds timeout) {
  struct Watch {
    pid_t pid;
    int fd;                           // -1: watched through /proc
    const std::uint64_t* start_time;  // null when the pid was never attached
    bool exited = false;
  };
  std::vector<Watch> watches;
  watches.reserve(pids.size());
  for (const pid_t pid : pids) {
    const auto it = attached_.find(pid);
    if (it == attached_.end()) {
      watches.push_back(Watch{pid, -1, nullptr});
    } else {
      watches.push_back(Watch{pid, it->second.fd, &it->second.start_time});
    }
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pollfd> pfds;
  std::vector<std::size_t> pfd_watch;  // index into watches for each pollfd
  for (;;) {
    bool proc_pending = false;
    pfds.clear();
    pfd_watch.clear();
    for (std::size_t i = 0; i < watches.size(); ++i) {
      Watch& w = watches[i];
      if (w.exited) continue;
      if (w.fd < 0) {
        w.exited = ExitedPerProc(w.pid, w.start_time);
        proc_pending = proc_pending || !w.exited;
      } else {
        pfds.push_back(pollfd{w.fd, POLLIN, 0});
        pfd_watch.push_back(i);
      }
    }
    if (pfds.empty() && !proc_pending) break;

    const auto remaining = std::max(std::chrono::nanoseconds::zero(),
                                    std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        deadline - std::chrono::steady_clock::now()));
    const std::chrono::nanoseconds wait =
        proc_pending ? std::min<std::chrono::nanoseconds>(remaining, kProcPollInterval) : remaining;
    const timespec ts = ToTimespec(wait);
    const int rc = ::ppoll(pfds.data(), pfds.size(), &ts, nullptr);
    if (rc < 0 && errno != EINTR) break;  // cannot wait: report who is still alive
    if (rc > 0) {
      for (std::size_t j = 0; j < pfds.size(); ++j) {
        // POLLIN: exited (zombie or reaped); POLLHUP/POLLERR/POLLNVAL: nothing left to wait on.
        if (pfds[j].revents != 0) watches[pfd_watch[j]].exited = true;
      }
    }
    if (remaining == std::chrono::nanoseconds::zero()) break;  // that was the last look
  }

  std::vector<pid_t> alive;
  for (const Watch& w : watches) {
    if (!w.exited) alive.push_back(w.pid);
  }
  return alive;
}

void PidfdSignaller::DetachAll() {
  for (auto& [pid, target] : attached_) {
    if (target.fd >= 0) ::close(target.fd);
  }
  attached_.clear();
}

bool PidfdSignaller::ExitedPerProc(pid_t pid, const std::uint64_t* start_time) const {
  Result<procfs::StatFields> stat = ReadProcStat(proc_root_, pid);
  if (!stat) return stat.error().code == ErrorCode::kNotFound;
  if (start_time != nullptr && stat->start_time != *start_time) return true;  // recycled
  return stat->state == 'Z' || stat->state == 'X';
}

Error PidfdSignaller::PermissionError(pid_t pid) const {
  std::string owner = "another user";
  if (Result<procfs::StatusFields> status = ReadProcStatus(proc_root_, pid)) {
    owner = UserNameForUid(status->uid);
  }
  return Error{ErrorCode::kPermissionDenied,
               "not permitted to signal " + PidText(pid) + " (owned by " + owner + ")",
               "run vramguard as that user or as root"};
}

}  // namespace vg
