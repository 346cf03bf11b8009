// A forked child that sleeps in pause() until killed: for tests of code that signals, waits for
// or lists real processes. Header-only and test-only (not part of the library).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>

#include "proc/procfs.h"

namespace vg::testing {

// Optionally ignoring SIGTERM. The constructor returns once the child runs; the destructor kills
// and reaps it unless the test reaped it.
class Sleeper {
 public:
  explicit Sleeper(bool ignore_term = false) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      if (ignore_term) ::signal(SIGTERM, SIG_IGN);
      ::write(fds[1], "x", 1);
      for (;;) ::pause();
    }
    ::close(fds[1]);
    char byte = 0;
    EXPECT_EQ(::read(fds[0], &byte, 1), 1);
    ::close(fds[0]);
  }
  ~Sleeper() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;
  pid_t pid() const { return pid_; }
  std::uint64_t StartTime() const {
    Result<procfs::StatFields> stat = ReadProcStat("/proc", pid_);
    EXPECT_TRUE(stat.has_value());
    return stat ? stat->start_time : 0;
  }
  // The wait status after reaping; blocks.
  int Reap() {
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    reaped_ = true;
    return status;
  }
  // True while the child has not exited (it is not a zombie yet).
  bool Running() const {
    siginfo_t info{};
    EXPECT_EQ(::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT), 0);
    return info.si_pid == 0;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace vg::testing
