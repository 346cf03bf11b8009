#include "proc/proc_events.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace vg {
namespace {

// The real connector: a child forked here is reported with this process as its parent, and its
// exit too. Skips where the kernel refuses (no CAP_NET_ADMIN, a network namespace).
TEST(NetlinkProcEvents, ReportsAForkAndItsExit) {
  auto events = NetlinkProcEvents::Open();
  if (!events) GTEST_SKIP() << events.error().message;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  bool forked = false, exited = false;
  for (int i = 0; i < 200 && !(forked && exited); ++i) {
    auto drained = (*events)->Drain();
    ASSERT_TRUE(drained) << drained.error().message;
    for (const ProcEvent& e : drained->events) {
      if (e.kind == ProcEvent::Kind::kFork && e.pid == child) {
        EXPECT_EQ(e.parent, ::getpid());
        forked = true;
      }
      if (e.kind == ProcEvent::Kind::kExit && e.pid == child) exited = true;
    }
    if (!(forked && exited)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(forked);
  EXPECT_TRUE(exited);
}

TEST(NetlinkProcEvents, ThreadsAreNotReported) {
  auto events = NetlinkProcEvents::Open();
  if (!events) GTEST_SKIP() << events.error().message;
  std::thread t([] {});
  t.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto drained = (*events)->Drain();
  ASSERT_TRUE(drained);
  for (const ProcEvent& e : drained->events) {
    EXPECT_FALSE(e.kind == ProcEvent::Kind::kFork && e.parent == ::getpid())
        << "a thread reported as a fork: " << e.pid;
  }
}

}  // namespace
}  // namespace vg
