#include "ops/observe.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "testing/fakes.h"

namespace vg {
namespace {

using testing::FakeGpuProbe;
using testing::FakeProcessSource;
using testing::MakeGpu;

ProcessInfo Proc(pid_t pid, pid_t ppid) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.pgid = pid;
  p.sid = pid;
  p.start_time = 100 + static_cast<std::uint64_t>(pid);
  p.state = 'S';
  p.comm = "p" + std::to_string(pid);
  p.argv = {p.comm};
  return p;
}

// ObserveListed reads what NVML lists one by one and never the whole machine.
TEST(ObserveListedTest, ReadsOnlyWhatTheDriverListsBesideTheKnown) {
  FakeProcessSource procs;
  for (pid_t pid = 10; pid < 2000; ++pid) procs.processes.push_back(Proc(pid, 1));
  procs.processes.push_back(Proc(5000, 4999));  // a foreign holder, its parent listed too
  procs.processes.push_back(Proc(4999, 1));
  FakeGpuProbe gpu{
      GpuSnapshot{"580",
                  {MakeGpu(0, Bytes::GiB(24),
                           {{300, Bytes::GiB(4)}, {5000, Bytes::GiB(2)}, {7777, Bytes::GiB(1)}})}}};
  const std::vector<ProcessInfo> known = {Proc(300, 299)};  // a member the caller has

  auto obs = ObserveListed(&gpu, procs, 300, known);
  ASSERT_TRUE(obs.has_value()) << obs.error().message;
  EXPECT_EQ(procs.list_calls, 0);
  EXPECT_EQ(procs.scan_calls, 0);
  EXPECT_EQ(obs->ghosts, 1);  // 7777 is gone
  ASSERT_EQ(obs->view.gpus.size(), 1u);
  int running = 0, ghosts = 0;
  for (const VramEntry& e : obs->view.gpus[0].entries) {
    if (e.role == Role::kRunning || e.role == Role::kOrphan) ++running;
    if (e.role == Role::kGhost) {
      ++ghosts;
      EXPECT_EQ(e.pid, 7777);
      EXPECT_TRUE(e.holders.empty());  // unnamed without a scan
    }
  }
  EXPECT_EQ(running, 2);
  EXPECT_EQ(ghosts, 1);
  ASSERT_NE(obs->view.Find(5000), nullptr);
  EXPECT_EQ(obs->view.Find(5000)->comm, "p5000");
}

TEST(ObserveListedTest, DriverErrorIsReportedNotFatal) {
  FakeProcessSource procs;
  FakeGpuProbe gpu{GpuSnapshot{}};
  gpu.FailNext(Error{ErrorCode::kDriverError, "GPU is lost"});
  auto obs = ObserveListed(&gpu, procs, ::getpid(), {});
  ASSERT_TRUE(obs.has_value());
  ASSERT_TRUE(obs->driver_error.has_value());
  EXPECT_EQ(obs->driver_error->message, "GPU is lost");
  EXPECT_FALSE(ObserveListed(nullptr, procs, ::getpid(), {}).has_value());
}

}  // namespace
}  // namespace vg
