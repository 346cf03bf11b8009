#include "proc/pidfd_signaller.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "proc/procfs.h"
#include "testing/sleeper.h"

namespace vg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

using vg::testing::Sleeper;

class PidfdSignallerTest : public ::testing::TestWithParam<PidfdSignaller::Mode> {};

TEST_P(PidfdSignallerTest, TermStopsASleeper) {
  Sleeper child;
  PidfdSignaller signaller("/proc", GetParam());
  ASSERT_TRUE(signaller.Attach(child.pid(), child.StartTime()).has_value());
  ASSERT_TRUE(signaller.Signal(child.pid(), SIGTERM).has_value());
  EXPECT_THAT(signaller.WaitForExit({child.pid()}, 5s), IsEmpty());
  const int status = child.Reap();
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST_P(PidfdSignallerTest, IgnoredTermNeedsKill) {
  Sleeper child(/*ignore_term=*/true);
  PidfdSignaller signaller("/proc", GetParam());
  ASSERT_TRUE(signaller.Attach(child.pid(), child.StartTime()).has_value());
  ASSERT_TRUE(signaller.Signal(child.pid(), SIGTERM).has_value());
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_THAT(signaller.WaitForExit({child.pid()}, 100ms), ElementsAre(child.pid()));
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 100ms);
  EXPECT_TRUE(child.Running());

  ASSERT_TRUE(signaller.Signal(child.pid(), SIGKILL).has_value());
  EXPECT_THAT(signaller.WaitForExit({child.pid()}, 5s), IsEmpty());
  const int status = child.Reap();
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_P(PidfdSignallerTest, WrongStartTimeIsRefusedAndNothingIsSent) {
  Sleeper child;
  PidfdSignaller signaller("/proc", GetParam());
  Result<void> attached = signaller.Attach(child.pid(), child.StartTime() + 1);
  ASSERT_FALSE(attached.has_value());
  EXPECT_EQ(attached.error().code, ErrorCode::kRefused);
  EXPECT_EQ(attached.error().message, "pid " + std::to_string(child.pid()) +
                                          " was recycled (start time changed); not signalling it");
  Result<void> signalled = signaller.Signal(child.pid(), SIGTERM);
  ASSERT_FALSE(signalled.has_value());
  EXPECT_EQ(signalled.error().code, ErrorCode::kInvalidArgument);
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(child.Running());
}

TEST_P(PidfdSignallerTest, NonexistentPidIsNotFound) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  PidfdSignaller signaller("/proc", GetParam());
  Result<void> attached = signaller.Attach(pid, 12345);
  ASSERT_FALSE(attached.has_value());
  EXPECT_EQ(attached.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(attached.error().message, HasSubstr(std::to_string(pid)));
  EXPECT_EQ(signaller.Attach(0, 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(signaller.Attach(-5, 1).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(PidfdSignallerTest, ZombieCountsAsExitedAndSignallingItSucceeds) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  PidfdSignaller signaller("/proc", GetParam());
  Result<procfs::StatFields> stat = ReadProcStat("/proc", pid);
  ASSERT_TRUE(stat.has_value());
  ASSERT_TRUE(signaller.Attach(pid, stat->start_time).has_value());
  ::kill(pid, SIGKILL);  // behind the signaller's back; not reaped: a zombie
  EXPECT_THAT(signaller.WaitForExit({pid}, 5s), IsEmpty());
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT), 0);
  EXPECT_EQ(info.si_pid, pid);  // still there, as a zombie
  EXPECT_TRUE(signaller.Signal(pid, SIGTERM).has_value());
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  EXPECT_TRUE(signaller.Signal(pid, SIGTERM).has_value());  // reaped: still success
  EXPECT_THAT(signaller.WaitForExit({pid}, 0ns), IsEmpty());
}

TEST_P(PidfdSignallerTest, WaitsForSeveralAndReportsTheLiving) {
  Sleeper quits;
  Sleeper stays(/*ignore_term=*/true);
  PidfdSignaller signaller("/proc", GetParam());
  ASSERT_TRUE(signaller.Attach(quits.pid(), quits.StartTime()).has_value());
  ASSERT_TRUE(signaller.Attach(stays.pid(), stays.StartTime()).has_value());
  ASSERT_TRUE(signaller.Signal(quits.pid(), SIGTERM).has_value());
  ASSERT_TRUE(signaller.Signal(stays.pid(), SIGTERM).has_value());
  EXPECT_THAT(signaller.WaitForExit({stays.pid(), quits.pid()}, 200ms), ElementsAre(stays.pid()));
  EXPECT_THAT(signaller.WaitForExit({stays.pid()}, 0ns), ElementsAre(stays.pid()));
  EXPECT_THAT(signaller.WaitForExit({}, 1s), IsEmpty());
}

TEST_P(PidfdSignallerTest, DetachAllForgetsEveryPid) {
  Sleeper child;
  PidfdSignaller signaller("/proc", GetParam());
  ASSERT_TRUE(signaller.Attach(child.pid(), child.StartTime()).has_value());
  signaller.DetachAll();
  EXPECT_EQ(signaller.Signal(child.pid(), SIGTERM).error().code, ErrorCode::kInvalidArgument);
  // Unattached pids are still watched, through /proc.
  EXPECT_THAT(signaller.WaitForExit({child.pid()}, 10ms), ElementsAre(child.pid()));
  ::kill(child.pid(), SIGKILL);
  EXPECT_THAT(signaller.WaitForExit({child.pid()}, 5s), IsEmpty());
  EXPECT_FALSE(child.Running());
}

TEST_P(PidfdSignallerTest, NotPermittedNamesTheOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
  Sleeper root_owned;
  const std::uint64_t start_time = root_owned.StartTime();
  const PidfdSignaller::Mode mode = GetParam();
  const pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    PidfdSignaller signaller("/proc", mode);
    if (!signaller.Attach(root_owned.pid(), start_time)) ::_exit(3);
    Result<void> signalled = signaller.Signal(root_owned.pid(), SIGTERM);
    if (signalled) ::_exit(4);
    if (signalled.error().code != ErrorCode::kPermissionDenied) ::_exit(5);
    const std::string expected =
        "not permitted to signal pid " + std::to_string(root_owned.pid()) + " (owned by root)";
    if (signalled.error().message != expected) ::_exit(6);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(helper, &status, 0), helper);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(root_owned.Running());
}

void OnAlarm(int) {}

TEST_P(PidfdSignallerTest, InterruptedWaitKeepsWaiting) {
  Sleeper child(/*ignore_term=*/true);
  PidfdSignaller signaller("/proc", GetParam());
  ASSERT_TRUE(signaller.Attach(child.pid(), child.StartTime()).has_value());
  struct sigaction action {};
  action.sa_handler = OnAlarm;  // no SA_RESTART: ppoll returns EINTR
  struct sigaction old_action {};
  ASSERT_EQ(::sigaction(SIGALRM, &action, &old_action), 0);
  itimerval timer{};
  timer.it_value.tv_usec = 20'000;
  timer.it_interval.tv_usec = 20'000;
  ASSERT_EQ(::setitimer(ITIMER_REAL, &timer, nullptr), 0);
  const auto begin = std::chrono::steady_clock::now();
  const std::vector<pid_t> alive = signaller.WaitForExit({child.pid()}, 150ms);
  const auto waited = std::chrono::steady_clock::now() - begin;
  itimerval off{};
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &old_action, nullptr);
  EXPECT_THAT(alive, ElementsAre(child.pid()));
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2s);
}

INSTANTIATE_TEST_SUITE_P(PidfdModes, PidfdSignallerTest,
                         ::testing::Values(PidfdSignaller::Mode::kAuto,
                                           PidfdSignaller::Mode::kKillOnly),
                         [](const auto& info) {
                           return info.param == PidfdSignaller::Mode::kAuto ? "Pidfd" : "KillOnly";
                         });

TEST(PidfdSignallerPidfdTest, UsesPidfdsOnThisKernel) {
  Sleeper child;
  PidfdSignaller signaller;
  ASSERT_TRUE(signaller.Attach(child.pid(), child.StartTime()).has_value());
  EXPECT_TRUE(signaller.UsesPidfds()) << "kernel without pidfd_open: the kill() fallback is used";
  EXPECT_FALSE(PidfdSignaller("/proc", PidfdSignaller::Mode::kKillOnly).UsesPidfds());
}

// Without pidfds, each signal re-reads the start time first: if the pid now shows another
// start time (simulated with a proc root whose stat is rewritten after Attach), the attached
// process has exited and nothing is sent.
TEST(PidfdSignallerPidfdTest, KillFallbackChecksStartTimeBeforeEachSignal) {
  Sleeper child;
  const std::string root = ::testing::TempDir() + "vg_sig_proc_" + std::to_string(::getpid());
  const std::string dir = root + "/" + std::to_string(child.pid());
  std::filesystem::create_directories(dir);
  auto write_stat = [&](std::uint64_t start_time) {
    FILE* f = std::fopen((dir + "/stat").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "%d (sleeper) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", child.pid(),
                 static_cast<unsigned long long>(start_time));
    std::fclose(f);
  };
  write_stat(777);
  PidfdSignaller signaller(root, PidfdSignaller::Mode::kKillOnly);
  ASSERT_TRUE(signaller.Attach(child.pid(), 777).has_value());
  write_stat(778);  // "recycled": the fallback must not kill
  EXPECT_TRUE(signaller.Signal(child.pid(), SIGKILL).has_value());  // ours is gone: success
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(child.Running());
  EXPECT_THAT(signaller.WaitForExit({child.pid()}, 0ns), IsEmpty());  // ours has exited
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace vg
