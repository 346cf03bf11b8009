#include "core/vram_view.h"

#include <gtest/gtest.h>

#include "testing/fakes.h"

namespace vg {
namespace {

using testing::MakeGpu;
using testing::MakeProcess;

DeviceHolder Mapper(pid_t pid, unsigned minor) { return {pid, {minor}, {minor}, true}; }
DeviceHolder Opener(pid_t pid, unsigned minor) { return {pid, {minor}, {}, true}; }

const VramEntry* Entry(const VramView& v, unsigned gpu, pid_t pid) {
  for (const VramEntry& e : v.gpus.at(gpu).entries) {
    if (e.pid == pid) return &e;
  }
  return nullptr;
}

// docs/gpu-facts.md, "The ghost": parent 526 forked 547 after CUDA init, then was killed.
VramViewInput MeasuredGhost() {
  VramViewInput in;
  in.snapshot.gpus.push_back(MakeGpu(0, Bytes::GiB(80), {{526, Bytes(11380000000ull)}}));
  ProcessInfo worker = MakeProcess(547, 1, "python3");
  worker.sid = 526;  // forked by 526, which led the session
  worker.pgid = 526;
  in.processes = {MakeProcess(1, 0, "systemd", 0), worker, MakeProcess(900, 1, "vramguard")};
  in.holders.holders = {Mapper(547, 0), Opener(900, 0)};
  in.self = 900;
  return in;
}

TEST(VramView, Regression_GhostOfDeadParentIsHeldByForkedWorker) {
  VramView v = BuildVramView(MeasuredGhost());
  const VramEntry* ghost = Entry(v, 0, 526);
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->role, Role::kGhost);
  EXPECT_EQ(ghost->used, Bytes(11380000000ull));
  EXPECT_EQ(ghost->holders, std::vector<pid_t>{547});
  const VramEntry* holder = Entry(v, 0, 547);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->role, Role::kHolder);
  EXPECT_EQ(holder->holds_for, 526);
  EXPECT_TRUE(holder->attributed_by_session);
  EXPECT_TRUE(holder->orphan);
}

TEST(VramView, VramguardItselfIsAMonitorNotAHolder) {
  VramView v = BuildVramView(MeasuredGhost());
  const VramEntry* self = Entry(v, 0, 900);
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->role, Role::kMonitor);
  EXPECT_TRUE(self->is_self);
}

TEST(VramView, LiveParentWithDataLoaderWorkerSharesItsContext) {
  VramViewInput in;
  in.snapshot.gpus.push_back(MakeGpu(0, Bytes::GiB(24), {{100, Bytes::GiB(12)}}));
  ProcessInfo parent = MakeProcess(100, 50, "python");
  ProcessInfo worker = MakeProcess(101, 100, "python");
  in.processes = {MakeProcess(50, 1, "bash"), parent, worker};
  in.holders.holders = {Mapper(100, 0), Mapper(101, 0)};
  VramView v = BuildVramView(in);
  EXPECT_EQ(Entry(v, 0, 100)->role, Role::kRunning);
  EXPECT_EQ(Entry(v, 0, 101)->role, Role::kHolder);
  EXPECT_EQ(Entry(v, 0, 101)->holds_for, 100);
}

TEST(VramView, MonitorsAreNotPossibleHoldersWhenTheGhostIsExplained) {
  VramViewInput in = MeasuredGhost();
  in.processes.push_back(MakeProcess(777, 1, "nvidia-smi"));
  in.holders.holders.push_back(Opener(777, 0));
  VramView v = BuildVramView(in);
  EXPECT_EQ(Entry(v, 0, 777)->role, Role::kMonitor);
}

TEST(VramView, UnexplainedGhostMakesOpenersPossibleHoldersButNotKnownMonitors) {
  VramViewInput in;
  in.snapshot.gpus.push_back(MakeGpu(0, Bytes::GiB(24), {{526, Bytes::GiB(10)}}));
  in.processes = {MakeProcess(1, 0, "systemd", 0), MakeProcess(600, 1, "python3"),
                  MakeProcess(777, 1, "nvidia-smi")};
  in.holders.holders = {Opener(600, 0), Opener(777, 0)};  // exec'd child: open, not mapped
  VramView v = BuildVramView(in);
  EXPECT_TRUE(Entry(v, 0, 526)->holders.empty());
  EXPECT_EQ(Entry(v, 0, 600)->role, Role::kPossible);
  EXPECT_EQ(Entry(v, 0, 600)->holds_for, 526);
  EXPECT_EQ(Entry(v, 0, 777)->role, Role::kMonitor);
}

TEST(VramView, TwoGhostsAreToldApartBySession) {
  VramViewInput in;
  in.snapshot.gpus.push_back(
      MakeGpu(0, Bytes::GiB(24), {{10, Bytes::GiB(4)}, {20, Bytes::GiB(6)}}));
  ProcessInfo a = MakeProcess(11, 1, "w");
  a.sid = 10;
  ProcessInfo b = MakeProcess(21, 1, "w");
  b.sid = 20;
  in.processes = {MakeProcess(1, 0, "systemd", 0), a, b};
  in.holders.holders = {Mapper(11, 0), Mapper(21, 0)};
  VramView v = BuildVramView(in);
  EXPECT_EQ(Entry(v, 0, 10)->holders, std::vector<pid_t>{11});
  EXPECT_EQ(Entry(v, 0, 20)->holders, std::vector<pid_t>{21});
}

TEST(VramView, ZombieListedByNvmlIsAGhost) {
  VramViewInput in;
  in.snapshot.gpus.push_back(MakeGpu(0, Bytes::GiB(24), {{300, Bytes::GiB(1)}}));
  ProcessInfo z = MakeProcess(300, 50, "python");
  z.state = 'Z';
  in.processes = {MakeProcess(50, 1, "bash"), z};
  VramView v = BuildVramView(in);
  EXPECT_EQ(Entry(v, 0, 300)->role, Role::kGhost);
}

TEST(VramView, ProcessOnSecondGpuUsesThatGpusMinor) {
  VramViewInput in;
  GpuInfo g1 = MakeGpu(1, Bytes::GiB(24), {{400, Bytes::GiB(2)}});
  g1.minor = 3;  // minors need not equal indices
  in.snapshot.gpus = {MakeGpu(0, Bytes::GiB(24), {}), g1};
  in.processes = {MakeProcess(50, 1, "bash"), MakeProcess(400, 50, "llama-server"),
                  MakeProcess(401, 400, "llama-server")};
  in.holders.holders = {Mapper(400, 3), Mapper(401, 3)};
  VramView v = BuildVramView(in);
  EXPECT_TRUE(v.gpus[0].entries.empty());
  ASSERT_EQ(v.gpus[1].entries.size(), 2u);
  EXPECT_EQ(Entry(v, 1, 401)->holds_for, 400);
}

TEST(VramView, OrphanVersusDaemon) {
  VramViewInput in;
  in.snapshot.gpus.push_back(
      MakeGpu(0, Bytes::GiB(24), {{500, Bytes::GiB(2)}, {510, Bytes::GiB(2)}}));
  ProcessInfo orphan = MakeProcess(500, 1, "python");
  orphan.sid = 480;  // its session leader (a shell) is gone; it was a child of someone
  ProcessInfo daemon = MakeProcess(510, 1, "ollama");
  daemon.sid = 510;  // systemd started it as a session leader
  in.processes = {MakeProcess(1, 0, "systemd", 0), orphan, daemon};
  VramView v = BuildVramView(in);
  EXPECT_EQ(Entry(v, 0, 500)->role, Role::kOrphan);
  EXPECT_EQ(Entry(v, 0, 510)->role, Role::kRunning);
}

TEST(VramView, NestedNamespaceWarns) {
  VramViewInput in = MeasuredGhost();
  in.nested_pid_namespace = true;
  in.holders.unreadable = 3;
  VramView v = BuildVramView(in);
  EXPECT_TRUE(v.nested_pid_namespace);
  EXPECT_EQ(v.warnings.size(), 2u);
}

}  // namespace
}  // namespace vg
