// ProcfsSource::Children against the real /proc: children forked by any thread, orphans adopted
// by a subreaper, and a pid that is gone.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "proc/procfs.h"
#include "testing/sleeper.h"

namespace vg {
namespace {

using ::testing::Contains;
using ::testing::Not;

using vg::testing::Sleeper;

TEST(ProcfsChildrenTest, ChildrenOfEveryThread) {
  Sleeper from_main;
  std::unique_ptr<Sleeper> from_thread;
  std::thread([&] { from_thread = std::make_unique<Sleeper>(); }).join();
  // The forking thread has ended: its child now belongs to a live thread of ours (the kernel
  // reparents within the thread group), and is still listed.
  ProcfsSource source;
  Result<std::vector<pid_t>> kids = source.Children(::getpid());
  ASSERT_TRUE(kids.has_value()) << kids.error().message;
  EXPECT_THAT(*kids, Contains(from_main.pid()));
  EXPECT_THAT(*kids, Contains(from_thread->pid()));
  EXPECT_TRUE(std::is_sorted(kids->begin(), kids->end()));
  Result<std::vector<pid_t>> none = source.Children(from_main.pid());
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(none->empty());
}

TEST(ProcfsChildrenTest, SubreaperAdoptsTheGrandchild) {
  // A child that forks a grandchild and exits: the grandchild comes to us, the subreaper. Run
  // in a forked helper so the test process's own subreaper setting stays as it was.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t helper = ::fork();
  if (helper == 0) {
    ::close(fds[0]);
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) ::_exit(2);
    const pid_t mid = ::fork();
    if (mid == 0) {
      const pid_t grandchild = ::fork();
      if (grandchild == 0) {
        for (;;) ::pause();
      }
      ::_exit(0);
    }
    ::waitpid(mid, nullptr, 0);
    ProcfsSource source;
    auto kids = source.Children(::getpid());
    const int ok = kids && kids->size() == 1 && (*kids)[0] != mid ? 0 : 1;
    if (kids) {
      for (pid_t k : *kids) ::kill(k, SIGKILL);
      for (std::size_t i = 0; i < kids->size(); ++i) ::wait(nullptr);
    }
    ::_exit(ok);
  }
  ::close(fds[1]);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(helper, &status, 0), helper);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the adopted grandchild was not listed (2: no subreaper)";
}

TEST(ProcfsChildrenTest, GonePidIsNotFound) {
  pid_t gone = 0;
  {
    Sleeper s;
    gone = s.pid();
  }
  ProcfsSource source;
  Result<std::vector<pid_t>> kids = source.Children(gone);
  ASSERT_FALSE(kids.has_value());
  EXPECT_EQ(kids.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(source.Children(::getpid()).value_or(std::vector<pid_t>{}), Not(Contains(gone)));
}

}  // namespace
}  // namespace vg
