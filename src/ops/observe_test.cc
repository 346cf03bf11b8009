#include "ops/observe.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

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

std::map<pid_t, std::string> Roles(const VramView& v) {
  std::map<pid_t, std::string> out;
  for (const GpuView& g : v.gpus) {
    for (const VramEntry& e : g.entries) {
      out[e.pid] = RoleName(e.role);
      if (e.holds_for) out[e.pid] += " for " + std::to_string(*e.holds_for);
      if (e.orphan) out[e.pid] += " orphan";
    }
  }
  return out;
}

std::vector<pid_t> TablePids(const MachineLook& look) {
  std::vector<pid_t> out;
  for (const ProcessInfo& p : look.table) out.push_back(p.pid);
  return out;
}

// `ps`'s look (kHolders): the pass gives the holders' rows; the pids the driver lists and the
// ancestors are read after the driver. A process that began using the GPU after the pass (700:
// the driver lists it, the pass saw no node) is running, not a ghost; the view is the one the
// whole table gives.
TEST(ObserveTest, HoldersOnlyPassReadsTheRowsTheViewNeeds) {
  GhostMachine m;
  m.procs.processes.push_back(MakeProcess(650, 1, "bash"));
  m.procs.processes.push_back(MakeProcess(700, 650, "python3"));
  m.procs.processes.push_back(MakeProcess(800, 650, "vim"));  // no GPU: never read
  m.gpu.snapshot().gpus[0].processes.push_back({700, Bytes::GiB(2)});

  Result<MachineLook> whole = Observe(&m.gpu, std::nullopt, m.procs, 900, TableRows::kAll);
  ASSERT_TRUE(whole.has_value()) << whole.error().message;
  EXPECT_EQ(m.procs.last_rows, TableRows::kAll);
  m.procs.get_calls = 0;
  Result<MachineLook> look = Observe(&m.gpu, std::nullopt, m.procs, 900, TableRows::kHolders);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  EXPECT_EQ(m.procs.last_rows, TableRows::kHolders);

  EXPECT_EQ(Roles(look->view), Roles(whole->view));
  EXPECT_EQ(Roles(look->view)[700], "running");
  EXPECT_EQ(Roles(look->view)[526], "exited");
  EXPECT_EQ(Roles(look->view)[547], "holder for 526 orphan");
  ASSERT_EQ(look->view.processes.size(), whole->view.processes.size());
  for (const auto& [pid, info] : whole->view.processes) {
    const ProcessInfo* same = look->view.Find(pid);
    ASSERT_NE(same, nullptr) << pid;
    EXPECT_EQ(same->CommandLine(), info.CommandLine()) << pid;
  }
  // Rows: the holder 547 (from the pass), 700 and its ancestors 650 and 1 (read after the
  // driver); the ghost 526 cannot be read, 800 and vramguard's own 900 are not needed.
  EXPECT_EQ(TablePids(*look), (std::vector<pid_t>{1, 547, 650, 700}));
  // Each process read once: vramguard itself (namespace check), 700, 650 and 1, the dead 526 (a
  // try), then 547 in full for the view.
  EXPECT_EQ(m.procs.get_calls, 6);
}

// Which rows are read after the pass: a monitor's parent (orphan or not) but not its other
// ancestors; a mapping holder's whole chain (it may share an ancestor's context).
TEST(ObserveTest, HoldersOnlyPassReadsAMappersAncestorsButAMonitorsParentOnly) {
  FakeGpuProbe gpu{GpuSnapshot{"580", {MakeGpu(0, Bytes::GiB(24), {{915, Bytes::GiB(4)}})}}};
  FakeProcessSource procs;
  procs.processes = {MakeProcess(1, 0, "systemd", 0), MakeProcess(904, 1, "sshd"),
                     MakeProcess(905, 904, "bash"),   MakeProcess(910, 905, "nvidia-smi"),
                     MakeProcess(915, 904, "python"), MakeProcess(920, 915, "python")};
  procs.holders.holders = {DeviceHolder{910, {0}, {}, true}, DeviceHolder{915, {0}, {0}, true},
                           DeviceHolder{920, {0}, {0}, true}};
  Result<MachineLook> look = Observe(&gpu, std::nullopt, procs, 999, TableRows::kHolders);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  // 905: the monitor's parent; 904 and 1: ancestors of the mappers 915 and 920.
  EXPECT_EQ(TablePids(*look), (std::vector<pid_t>{1, 904, 905, 910, 915, 920}));
  EXPECT_EQ(Roles(look->view)[915], "running");
  EXPECT_EQ(Roles(look->view)[920], "holder for 915");
  EXPECT_EQ(Roles(look->view)[910], "monitor");

  // Without the mappers, the monitor's grandparent 904 is not read.
  procs.holders.holders = {DeviceHolder{910, {0}, {}, true}};
  gpu.snapshot().gpus[0].processes.clear();
  look = Observe(&gpu, std::nullopt, procs, 999, TableRows::kHolders);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  EXPECT_EQ(TablePids(*look), (std::vector<pid_t>{905, 910}));
}

// The CLI opens the driver on a thread while /proc is read: the driver's own device nodes (this
// process's) may open before or after the pass reached it. This process's entry is read again
// once the driver is open, so it is listed either way; the other processes' are not re-read.
TEST(ObserveTest, OwnNodesOpenedDuringThePassAreListed) {
  GhostMachine m;
  Result<MachineLook> look = Observe(
      [&] {
        m.procs.holders.holders.push_back(DeviceHolder{900, {0}, {}, true});  // nvmlInit
        return GpuAccess{&m.gpu, std::nullopt};
      },
      m.procs, 900, TableRows::kHolders);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  const VramEntry* self = Entry(look->view, 0, 900);
  ASSERT_NE(self, nullptr);
  EXPECT_TRUE(self->is_self);
  EXPECT_EQ(m.procs.holder_of_calls, 1);
  EXPECT_EQ(m.procs.scan_calls, 0);

  // Without a driver nothing of ours is open: no second read.
  GhostMachine without;
  look = Observe(
      [] {
        return GpuAccess{nullptr, Error{ErrorCode::kNotFound, "no driver"}};
      },
      without.procs, 900, TableRows::kHolders);
  ASSERT_TRUE(look.has_value()) << look.error().message;
  EXPECT_EQ(without.procs.holder_of_calls, 0);
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

// ---- ObserveListed (the daemon's view: NVML plus what it knows, no machine scan) ----

ProcessInfo Row(pid_t pid, pid_t ppid) {
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
  for (pid_t pid = 10; pid < 2000; ++pid) procs.processes.push_back(Row(pid, 1));
  procs.processes.push_back(Row(5000, 4999));  // a foreign holder, its parent listed too
  procs.processes.push_back(Row(4999, 1));
  FakeGpuProbe gpu{
      GpuSnapshot{"580",
                  {MakeGpu(0, Bytes::GiB(24),
                           {{300, Bytes::GiB(4)}, {5000, Bytes::GiB(2)}, {7777, Bytes::GiB(1)}})}}};
  const std::vector<ProcessInfo> known = {Row(300, 299)};  // a member the caller has

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
