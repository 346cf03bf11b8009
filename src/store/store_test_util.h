// Helpers shared by the store's unit tests (header-only; not part of the library): a temporary
// directory removed with its contents, and a forked child that is always reaped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

#include <cerrno>
#include <filesystem>
#include <functional>
#include <string>

namespace vg::store_test {

using TempDir = vg::testing::TempDir;

// Runs `body` in a forked child that leaves with _exit(body()): no destructors, no atexit, no
// gtest teardown — the way a killed daemon leaves. The destructor SIGKILLs and reaps a child that
// is still there, so a failing test never leaves a process behind. The body must not use gtest
// assertions; it reports through its exit status.
class Child {
 public:
  explicit Child(const std::function<int()>& body) {
    pid_ = ::fork();
    if (pid_ == 0) ::_exit(body());
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Exit status, or 128 + signal number. Reaps the child.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

// A one-way pipe for handing a byte between parent and child: Read returns false at EOF (the
// writer died), so neither side can hang on the other's failure.
class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2 failed";
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  bool Write() {
    const char byte = 1;
    return ::write(fds_[1], &byte, 1) == 1;
  }
  bool Read() {
    char byte = 0;
    ssize_t n;
    while ((n = ::read(fds_[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    return n == 1;
  }
  void CloseRead() { Close(fds_[0]); }
  void CloseWrite() { Close(fds_[1]); }

 private:
  static void Close(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fds_[2] = {-1, -1};
};

}  // namespace vg::store_test
