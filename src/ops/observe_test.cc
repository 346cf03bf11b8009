#include "ops/observe.h"

#include <gtest/gtest.h>

#include "testing/fakes.h"

namespace vg {
namespace {

using testing::FakeGpuProbe;
using testing::FakeProcessSource;
using testing::MakeGpu;
using testing::MakeProcess;

const VramEntry* Entry(const VramView& v, unsigned gpu, pid_t pid) {
  for (const VramEntry& e : v.gpus.at(gpu).entries) {
    if (e.pid == pid) return &e;
  }
  return nullptr;
}

// A ghost (526 exited, NVML still lists it) held by its forked worker 547; 900 is vramguard.
struct GhostMachine {
  FakeGpuProbe gpu{GpuSnapshot{"580", {MakeGpu(0, Bytes::GiB(80), {{526, Bytes::GiB(10)}})}}};
  FakeProcessSource procs;
  GhostMachine() {
    ProcessInfo worker = MakeProcess(547, 1, "python3");
    worker.sid = 526;
    worker.pgid = 526;
    procs.processes = {MakeProcess(1, 0, "systemd", 0), worker, MakeProcess(900, 1, "vramguard")};
    procs.holders.holders = {DeviceHolder{547, {0}, {0}, true}};
  }
};

// The table and the holders come from one pass over the processes, not a List and a scan.
TEST(ObserveTest, OnePassForTheTableAndTheHolders) {
  GhostMachine m;
  Result<MachineLook> look = Observe(&m.gpu, std::nullopt, m.procs, 900);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  EXPECT_EQ(m.procs.list_with_holders_calls, 1);
  EXPECT_EQ(m.procs.list_calls, 0);
  EXPECT_EQ(m.procs.scan_calls, 0);
  EXPECT_EQ(m.gpu.calls(), 1);

  const VramEntry* ghost = Entry(look->view, 0, 526);
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->role, Role::kGhost);
  EXPECT_EQ(ghost->holders, std::vector<pid_t>{547});
  const VramEntry* holder = Entry(look->view, 0, 547);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->role, Role::kHolder);
  EXPECT_EQ(look->table.size(), 3u);
  // Full details (Get) only for vramguard itself and the processes the view names.
  ASSERT_NE(look->view.Find(547), nullptr);
  EXPECT_EQ(m.procs.get_calls, 1 + static_cast<int>(look->view.processes.size()));
}

TEST(ObserveTest, AFailedPassFailsTheLookBeforeTheDriverIsAsked) {
  GhostMachine m;
  m.procs.fail_next = Error{ErrorCode::kIo, "cannot open /proc"};
  Result<MachineLook> look = Observe(&m.gpu, std::nullopt, m.procs, 900);
  ASSERT_FALSE(look.has_value());
  EXPECT_EQ(look.error().message, "cannot open /proc");
  EXPECT_EQ(m.gpu.calls(), 0);
}

// Without a driver the GPUs are inferred from the nodes the one pass found held.
TEST(ObserveTest, WithoutDriverGpusComeFromTheHolders) {
  GhostMachine m;
  Result<MachineLook> look =
      Observe(nullptr, Error{ErrorCode::kNotFound, "no NVIDIA driver found"}, m.procs, 900);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  ASSERT_EQ(look->snapshot.gpus.size(), 1u);
  EXPECT_EQ(look->snapshot.gpus[0].minor, 0u);
  ASSERT_FALSE(look->view.warnings.empty());
  EXPECT_EQ(look->view.warnings[0], "no NVIDIA driver found");
}

}  // namespace
}  // namespace vg
