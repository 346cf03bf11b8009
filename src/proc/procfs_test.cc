#include "proc/procfs.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "testing/temp_dir.h"

namespace vg {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using vg::testing::TempDir;

// A directory under the test temp dir, removed with everything in it. Fixture trees hold
// thousands of files: they go to tmpfs (/dev/shm) when there is one and TEST_TMPDIR is not set.
void WriteFile(const std::string& path, std::string_view content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

// flags: 0x400100 (PF_FORKNOEXEC | PF_RANDOMIZE) for a user process.
std::string StatLine(pid_t pid, std::string_view comm, char state, pid_t ppid, pid_t pgrp,
                     pid_t sid, std::uint64_t start_time, unsigned flags = 4194560) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%d (%.*s) %c %d %d %d 0 -1 %u 100 0 0 0 5 2 0 0 20 0 1 0 %llu 1000 10 "
                "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                pid, static_cast<int>(comm.size()), comm.data(), state, ppid, pgrp, sid, flags,
                static_cast<unsigned long long>(start_time));
  return buf;
}

constexpr unsigned kKernelThreadFlags = 0x208040;  // kthreadd's: PF_KTHREAD among them

std::string StatusText(std::string_view name, pid_t pid, uid_t uid) {
  return "Name:\t" + std::string(name) + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" +
         std::to_string(pid) + "\nPid:\t" + std::to_string(pid) + "\nUid:\t" + std::to_string(uid) +
         "\t" + std::to_string(uid) + "\t" + std::to_string(uid) + "\t" + std::to_string(uid) +
         "\nGroups:\t\nNStgid:\t" + std::to_string(pid) + "\nNSpid:\t" + std::to_string(pid) +
         "\nVmPeak:\t 1000 kB\n";
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    out += p;
    out.push_back('\0');
  }
  return out;
}

std::string MapsLine(const std::string& path) {
  return "7f1c2a001000-7f1c2a002000 rw-s 00000000 00:05 1036                       " + path + "\n";
}

struct FakeProcess {
  pid_t pid = 0;
  std::string comm;
  pid_t ppid = 1;
  uid_t uid = 0;
  std::uint64_t start_time = 100;
  char state = 'S';
  unsigned flags = 4194560;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // environ file written only when non-empty
  std::string cwd;               // cwd symlink written only when non-empty
  std::vector<std::string> fds;  // fd/<3+i> → fds[i]
  bool has_fd_dir = true;
  std::string maps;
};

// A /proc tree under <tmp>/proc with device nodes named under <tmp>/dev.
class ProcFixture {
 public:
  ProcFixture() {
    fs::create_directories(proc());
    fs::create_directories(dev());
    fs::create_directory_symlink(dev(), dir_.path() + "/devlink");
  }
  std::string proc() const { return dir_.path() + "/proc"; }
  std::string dev() const { return dir_.path() + "/dev"; }
  std::string devlink() const { return dir_.path() + "/devlink"; }
  std::string Node(std::string_view name) const { return dev() + "/" + std::string(name); }

  void Add(const FakeProcess& p) {
    const std::string root = proc() + "/" + std::to_string(p.pid);
    WriteFile(root + "/stat",
              StatLine(p.pid, p.comm, p.state, p.ppid, p.pid, p.pid, p.start_time, p.flags));
    WriteFile(root + "/status", StatusText(p.comm, p.pid, p.uid));
    WriteFile(root + "/cmdline", Joined(p.argv));
    WriteFile(root + "/maps", p.maps);
    if (!p.env.empty()) WriteFile(root + "/environ", Joined(p.env));
    if (!p.cwd.empty()) fs::create_symlink(p.cwd, root + "/cwd");
    if (p.has_fd_dir) {
      fs::create_directories(root + "/fd");
      for (std::size_t i = 0; i < p.fds.size(); ++i) {
        fs::create_symlink(p.fds[i], root + "/fd/" + std::to_string(3 + i));
      }
    }
  }

 private:
  TempDir dir_{"vg_proc_", /*in_memory=*/true};
};

class ProcfsFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string maps_libc =
        "55d0c8a00000-55d0c8a2c000 r--p 00000000 08:01 1310795   /usr/bin/python3.11\n"
        "7f1c00000000-7f1c00021000 rw-p 00000000 00:00 0 \n";
    f_.Add({.pid = 1,
            .comm = "systemd",
            .ppid = 0,
            .argv = {"/sbin/init"},
            .fds = {"/dev/null", "socket:[1001]"}});
    f_.Add({.pid = 2, .comm = "kthreadd", .ppid = 0, .start_time = 1, .flags = kKernelThreadFlags});
    // nvidia-smi dmon: nodes open, only nvidiactl mapped.
    f_.Add({.pid = 100,
            .comm = "nvidia-smi",
            .argv = {"nvidia-smi", "dmon"},
            .fds = {f_.Node("nvidiactl"), f_.Node("nvidia0"), f_.Node("nvidia-uvm"),
                    f_.Node("nvidia-caps/nvidia-cap1")},
            .maps = maps_libc + MapsLine(f_.Node("nvidiactl"))});
    // A CUDA process: context on GPU 0, GPU 1 open but not mapped.
    f_.Add({.pid = 200,
            .comm = "python3",
            .uid = 65534,
            .start_time = 5000,
            .argv = {"python3", "main.py", "--port", "7860"},
            .env = {"PATH=/usr/bin", "VRAMGUARD_INSTANCE=i2v@1"},
            .cwd = "/srv/image to video",
            .fds = {"/dev/null", f_.Node("nvidiactl"), f_.Node("nvidia0"), f_.Node("nvidia1"),
                    f_.Node("nvidia0"), f_.Node("nvidia-uvm")},
            .maps = maps_libc + MapsLine(f_.Node("nvidiactl")) + MapsLine(f_.Node("nvidia0")) +
                    MapsLine(f_.Node("nvidia-uvm"))});
    // Its forked DataLoader worker (no CUDA calls): inherited fds and mapping.
    f_.Add({.pid = 201,
            .comm = "pt_data_worker",
            .ppid = 200,
            .uid = 4242,
            .start_time = 5100,
            .argv = {"python3", "main.py", "--port", "7860"},
            .env = {"VRAMGUARD_INSTANCE=i2v@1"},
            .fds = {f_.Node("nvidiactl"), f_.Node("nvidia0")},
            .maps = maps_libc + MapsLine(f_.Node("nvidia0"))});
    // Holds a context, but its fd directory is missing (treated like a vanished process).
    f_.Add({.pid = 300,
            .comm = "python3",
            .argv = {"python3"},
            .has_fd_dir = false,
            .maps = MapsLine(f_.Node("nvidia0"))});
    // Everything but a GPU node.
    f_.Add(
        {.pid = 400,
         .comm = "sh",
         .argv = {"sh"},
         .fds = {"socket:[1234]", "pipe:[99]", "anon_inode:[eventfd]", f_.Node("nvidia-uvm"),
                 f_.Node("nvidia-modeset"), f_.Node("nvidia-caps/nvidia-cap2"), "/dev/nvidia0"}});
    // Only nvidiactl open.
    f_.Add({.pid = 600, .comm = "persistenced", .fds = {f_.Node("nvidiactl")}});
    // The node was unlinked while held.
    f_.Add({.pid = 700,
            .comm = "python3",
            .argv = {"python3", "x.py"},
            .fds = {f_.Node("nvidia2") + " (deleted)"},
            .maps = MapsLine(f_.Node("nvidia2") + " (deleted)")});
    // A process that vanished: its directory is there, its files are not.
    fs::create_directories(f_.proc() + "/500");
    // Entries that are not processes.
    fs::create_directories(f_.proc() + "/sys");
    fs::create_directories(f_.proc() + "/12ab");
    fs::create_directory_symlink(f_.proc() + "/1", f_.proc() + "/self");
    WriteFile(f_.proc() + "/uptime", "1.00 1.00\n");
  }

  ProcFixture f_;
};

std::vector<pid_t> Pids(const std::vector<ProcessInfo>& list) {
  std::vector<pid_t> out;
  for (const ProcessInfo& p : list) out.push_back(p.pid);
  return out;
}

const ProcessInfo* Find(const std::vector<ProcessInfo>& list, pid_t pid) {
  for (const ProcessInfo& p : list) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

TEST_F(ProcfsFixtureTest, ListBasicReadsEveryProcessSortedAndSkipsVanished) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<std::vector<ProcessInfo>> list = source.List(Detail::kBasic);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  EXPECT_THAT(Pids(*list), ElementsAre(1, 2, 100, 200, 201, 300, 400, 600, 700));

  const ProcessInfo* worker = Find(*list, 201);
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->ppid, 200);
  EXPECT_EQ(worker->pgid, 201);
  EXPECT_EQ(worker->sid, 201);
  EXPECT_EQ(worker->uid, 4242u);
  EXPECT_EQ(worker->user, "4242");  // no such user: the number
  EXPECT_EQ(worker->start_time, 5100u);
  EXPECT_EQ(worker->state, 'S');
  EXPECT_EQ(worker->comm, "pt_data_worker");
  EXPECT_THAT(worker->argv, ElementsAre("python3", "main.py", "--port", "7860"));
  EXPECT_THAT(worker->nspid, ElementsAre(201));
  EXPECT_EQ(worker->cwd, std::nullopt);  // kBasic
  EXPECT_EQ(worker->instance_tag, std::nullopt);

  EXPECT_EQ(Find(*list, 200)->user, "nobody");
  EXPECT_EQ(Find(*list, 1)->user, "root");
  EXPECT_THAT(Find(*list, 2)->argv, IsEmpty());
  EXPECT_EQ(Find(*list, 2)->CommandLine(), "[kthreadd]");
}

TEST_F(ProcfsFixtureTest, ListFullReadsCwdAndInstanceTag) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<std::vector<ProcessInfo>> list = source.List(Detail::kFull);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  EXPECT_EQ(Find(*list, 200)->cwd, "/srv/image to video");
  EXPECT_EQ(Find(*list, 200)->instance_tag, "i2v@1");
  EXPECT_EQ(Find(*list, 201)->instance_tag, "i2v@1");
  EXPECT_EQ(Find(*list, 201)->cwd, std::nullopt);  // no cwd link
  EXPECT_EQ(Find(*list, 1)->instance_tag, std::nullopt);
}

TEST_F(ProcfsFixtureTest, GetOneProcess) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<ProcessInfo> p = source.Get(200);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->comm, "python3");
  EXPECT_EQ(p->start_time, 5000u);
  EXPECT_EQ(p->cwd, "/srv/image to video");
  EXPECT_EQ(p->instance_tag, "i2v@1");
  EXPECT_EQ(p->CommandLine(), "python3 main.py --port 7860");

  for (const pid_t missing : {999, 500}) {
    Result<ProcessInfo> gone = source.Get(missing);
    ASSERT_FALSE(gone.has_value());
    EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
    EXPECT_THAT(gone.error().message, ::testing::HasSubstr(std::to_string(missing)));
  }
  EXPECT_EQ(source.Get(0).error().code, ErrorCode::kInvalidArgument);
}

// A process read before costs its stat only: what its other files said is kept, keyed by pid,
// start time and comm. The fixture's cmdline and environ are rewritten behind the source's
// back, so a row that still shows the old ones came from what was kept.
TEST_F(ProcfsFixtureTest, ProcessesReadBeforeCostTheirStatOnly) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<std::vector<ProcessInfo>> first = source.List(Detail::kFull);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(source.KnownProcesses(), first->size());

  const std::string root = f_.proc() + "/200";
  WriteFile(root + "/cmdline", Joined({"python3", "other.py"}));
  WriteFile(root + "/environ", Joined({"VRAMGUARD_INSTANCE=i2v@2"}));
  // Its stat changed state and parent (reparented): those are read every time.
  WriteFile(root + "/stat", StatLine(200, "python3", 'R', 1, 200, 200, 5000));

  Result<std::vector<ProcessInfo>> again = source.List(Detail::kFull);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  const ProcessInfo* kept = Find(*again, 200);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->CommandLine(), "python3 main.py --port 7860");
  EXPECT_EQ(kept->instance_tag, "i2v@1");
  EXPECT_EQ(kept->state, 'R');
  EXPECT_EQ(kept->ppid, 1);
  EXPECT_EQ(source.Get(200)->instance_tag, "i2v@1");

  // An exec (comm changes) is a new process to read.
  WriteFile(root + "/stat", StatLine(200, "python3.11", 'S', 1, 200, 200, 5000));
  EXPECT_EQ(source.Get(200)->CommandLine(), "python3 other.py");
  EXPECT_EQ(source.Get(200)->instance_tag, "i2v@2");

  // So is a recycled pid (another start time).
  WriteFile(root + "/cmdline", Joined({"bash"}));
  WriteFile(root + "/stat", StatLine(200, "python3.11", 'S', 1, 200, 200, 9000));
  Result<std::vector<ProcessInfo>> recycled = source.List(Detail::kBasic);
  ASSERT_TRUE(recycled.has_value());
  EXPECT_EQ(Find(*recycled, 200)->CommandLine(), "bash");
  // kBasic leaves cwd and the tag out even where they were kept.
  EXPECT_EQ(Find(*recycled, 1)->cwd, std::nullopt);
  EXPECT_EQ(Find(*recycled, 200)->instance_tag, std::nullopt);

  // A whole-table read keeps only the processes it saw.
  fs::remove_all(f_.proc() + "/201");
  ASSERT_TRUE(source.List(Detail::kBasic).has_value());
  EXPECT_EQ(source.KnownProcesses(), recycled->size() - 1);

  // What was kept at kBasic is not enough for kFull: read again.
  WriteFile(root + "/environ", Joined({"VRAMGUARD_INSTANCE=i2v@3"}));
  EXPECT_EQ(Find(*source.List(Detail::kFull), 200)->instance_tag, "i2v@3");
}

TEST_F(ProcfsFixtureTest, ScanTellsMonitorsFromContextHolders) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<HolderScan> scan = source.ScanDeviceHolders();
  ASSERT_TRUE(scan.has_value()) << scan.error().message;
  EXPECT_EQ(scan->unreadable, 0);
  std::map<pid_t, DeviceHolder> by_pid;
  std::vector<pid_t> pids;
  for (const DeviceHolder& h : scan->holders) {
    by_pid[h.pid] = h;
    pids.push_back(h.pid);
  }
  EXPECT_THAT(pids, ElementsAre(100, 200, 201, 600, 700));

  // Monitor: node open, not mapped.
  EXPECT_THAT(by_pid[100].open_minors, ElementsAre(0u));
  EXPECT_THAT(by_pid[100].mapped_minors, IsEmpty());
  EXPECT_TRUE(by_pid[100].opens_ctl);
  // Context holder: GPU 0 mapped, GPU 1 only open; duplicates collapsed.
  EXPECT_THAT(by_pid[200].open_minors, ElementsAre(0u, 1u));
  EXPECT_THAT(by_pid[200].mapped_minors, ElementsAre(0u));
  EXPECT_TRUE(by_pid[200].opens_ctl);
  // Forked child sharing the context.
  EXPECT_THAT(by_pid[201].open_minors, ElementsAre(0u));
  EXPECT_THAT(by_pid[201].mapped_minors, ElementsAre(0u));
  // nvidiactl only.
  EXPECT_THAT(by_pid[600].open_minors, IsEmpty());
  EXPECT_THAT(by_pid[600].mapped_minors, IsEmpty());
  EXPECT_TRUE(by_pid[600].opens_ctl);
  // Deleted node still counts.
  EXPECT_THAT(by_pid[700].open_minors, ElementsAre(2u));
  EXPECT_THAT(by_pid[700].mapped_minors, ElementsAre(2u));
  EXPECT_FALSE(by_pid[700].opens_ctl);
}

TEST_F(ProcfsFixtureTest, DeviceDirIsCanonicalised) {
  ProcfsSource source(f_.proc(), f_.devlink() + "/");
  EXPECT_EQ(source.device_dir(), f_.dev());
  Result<HolderScan> scan = source.ScanDeviceHolders();
  ASSERT_TRUE(scan.has_value()) << scan.error().message;
  EXPECT_EQ(scan->holders.size(), 5u);

  // A directory that does not exist is kept as given (without a trailing slash).
  EXPECT_EQ(ProcfsSource(f_.proc(), "/no/such/dev/").device_dir(), "/no/such/dev");
  // The real /dev has no process in the fixture holding its nodes (pid 400's "/dev/nvidia0"
  // is the only one, and does count there).
  Result<HolderScan> real_dev = ProcfsSource(f_.proc(), "/dev").ScanDeviceHolders();
  ASSERT_TRUE(real_dev.has_value());
  ASSERT_EQ(real_dev->holders.size(), 1u);
  EXPECT_EQ(real_dev->holders[0].pid, 400);
}

// ---- One pass: the table and the holders together (ListWithHolders) ----

std::vector<pid_t> HolderPids(const HolderScan& scan) {
  std::vector<pid_t> out;
  for (const DeviceHolder& h : scan.holders) out.push_back(h.pid);
  return out;
}

TEST_F(ProcfsFixtureTest, ListWithHoldersIsTheTreeAndTheScanInOnePass) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<TableAndHolders> all = source.ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  // 500 vanished before its stat; 300 has no fd directory: to the one pass it vanished between
  // its stat and its fds, so it is left out (List(kTree), which reads no fds, keeps it).
  EXPECT_THAT(Pids(all->table), ElementsAre(1, 2, 100, 200, 201, 400, 600, 700));
  Result<std::vector<ProcessInfo>> tree = source.List(Detail::kTree);
  ASSERT_TRUE(tree.has_value()) << tree.error().message;
  EXPECT_THAT(Pids(*tree), ElementsAre(1, 2, 100, 200, 201, 300, 400, 600, 700));

  const ProcessInfo* worker = Find(all->table, 201);
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->ppid, 200);
  EXPECT_EQ(worker->start_time, 5100u);
  EXPECT_EQ(worker->comm, "pt_data_worker");
  EXPECT_THAT(worker->argv, IsEmpty());  // the table is kTree
  // kTree's owner is the owner /proc shows for the process's files: here the fixture's.
  EXPECT_EQ(worker->uid, ::geteuid());
  EXPECT_EQ(worker->user, UserNameForUid(::geteuid()));
  EXPECT_EQ(Find(all->table, 2)->uid, 0u);  // a kernel thread: root, as the kernel shows it

  // The holders are exactly ScanDeviceHolders', each found in the same pass as its row.
  Result<HolderScan> scan = source.ScanDeviceHolders();
  ASSERT_TRUE(scan.has_value()) << scan.error().message;
  EXPECT_THAT(HolderPids(all->holders), ElementsAre(100, 200, 201, 600, 700));
  ASSERT_EQ(HolderPids(all->holders), HolderPids(*scan));
  for (std::size_t i = 0; i < scan->holders.size(); ++i) {
    const DeviceHolder& a = all->holders.holders[i];
    const DeviceHolder& b = scan->holders[i];
    EXPECT_EQ(a.open_minors, b.open_minors) << a.pid;
    EXPECT_EQ(a.mapped_minors, b.mapped_minors) << a.pid;
    EXPECT_EQ(a.opens_ctl, b.opens_ctl) << a.pid;
    EXPECT_NE(Find(all->table, a.pid), nullptr) << a.pid;
  }
  EXPECT_THAT(all->holders.holders[1].open_minors, ElementsAre(0u, 1u));
  EXPECT_THAT(all->holders.holders[1].mapped_minors, ElementsAre(0u));
  EXPECT_EQ(all->holders.unreadable, 0);
}

// kHolders (what `ps` asks for): the fds of every process, the stat of the holders alone; their
// rows and holder data are kAll's.
TEST_F(ProcfsFixtureTest, ListWithHoldersReadsOnlyTheHoldersRowsWhenAsked) {
  ProcfsSource source(f_.proc(), f_.dev());
  Result<TableAndHolders> all = source.ListWithHolders(TableRows::kAll);
  Result<TableAndHolders> holders = source.ListWithHolders(TableRows::kHolders);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_TRUE(holders.has_value()) << holders.error().message;
  EXPECT_THAT(Pids(holders->table), ElementsAre(100, 200, 201, 600, 700));
  EXPECT_THAT(HolderPids(holders->holders), ElementsAre(100, 200, 201, 600, 700));
  EXPECT_EQ(holders->holders.unreadable, 0);
  for (const ProcessInfo& p : holders->table) {
    const ProcessInfo* same = Find(all->table, p.pid);
    ASSERT_NE(same, nullptr) << p.pid;
    EXPECT_EQ(p.ppid, same->ppid) << p.pid;
    EXPECT_EQ(p.pgid, same->pgid) << p.pid;
    EXPECT_EQ(p.sid, same->sid) << p.pid;
    EXPECT_EQ(p.start_time, same->start_time) << p.pid;
    EXPECT_EQ(p.comm, same->comm) << p.pid;
    EXPECT_EQ(p.uid, same->uid) << p.pid;
    EXPECT_EQ(p.user, same->user) << p.pid;
  }
  for (std::size_t i = 0; i < all->holders.holders.size(); ++i) {
    EXPECT_EQ(holders->holders.holders[i].open_minors, all->holders.holders[i].open_minors);
    EXPECT_EQ(holders->holders.holders[i].mapped_minors, all->holders.holders[i].mapped_minors);
    EXPECT_EQ(holders->holders.holders[i].opens_ctl, all->holders.holders[i].opens_ctl);
  }
}

// Kernel threads have no fds and zombies have closed theirs, so their fd directories are never
// walked: in these fixtures they list a device node, which must therefore not be seen. (kHolders
// and ScanDeviceHolders read fds before stat, so they walk them; on a real kernel they are empty.)
TEST(ProcfsSourceTest, KernelThreadsAndZombiesAreNotScanned) {
  ProcFixture f;
  f.Add({.pid = 2,
         .comm = "kthreadd",
         .ppid = 0,
         .uid = 4242,
         .flags = kKernelThreadFlags,
         .fds = {f.Node("nvidia0")}});
  f.Add({.pid = 15,
         .comm = "kworker/0:1H-kblockd",
         .ppid = 2,
         .flags = 0x4208060,
         .fds = {f.Node("nvidiactl")}});
  f.Add({.pid = 40, .comm = "python3", .state = 'Z', .fds = {f.Node("nvidia0")}});
  f.Add({.pid = 41,
         .comm = "python3",
         .fds = {f.Node("nvidia0")},
         .maps = MapsLine(f.Node("nvidia0"))});
  ProcfsSource source(f.proc(), f.dev());
  Result<TableAndHolders> all = source.ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_THAT(Pids(all->table), ElementsAre(2, 15, 40, 41));
  EXPECT_EQ(Find(all->table, 2)->uid, 0u);  // kernel threads' /proc files belong to root
  EXPECT_EQ(Find(all->table, 15)->user, "root");
  EXPECT_EQ(Find(all->table, 40)->state, 'Z');
  EXPECT_THAT(HolderPids(all->holders), ElementsAre(41));
  EXPECT_THAT(all->holders.holders[0].mapped_minors, ElementsAre(0u));
}

// A process that exits at any point of its read is left out, row and holder together.
TEST(ProcfsSourceTest, VanishedProcessesAreSkippedInTheOnePass) {
  ProcFixture f;
  const FakeProcess holder{.pid = 10,
                           .comm = "python3",
                           .fds = {f.Node("nvidia0")},
                           .maps = MapsLine(f.Node("nvidia0"))};
  f.Add(holder);
  fs::create_directories(f.proc() + "/11");  // gone before its stat was read
  FakeProcess no_fds = holder;               // gone between its stat and its fds
  no_fds.pid = 12;
  no_fds.has_fd_dir = false;
  f.Add(no_fds);
  FakeProcess no_maps = holder;  // gone between its fds and its maps
  no_maps.pid = 13;
  f.Add(no_maps);
  fs::remove(f.proc() + "/13/maps");
  FakeProcess plain{.pid = 14, .comm = "sh", .fds = {"/dev/null"}};
  f.Add(plain);

  ProcfsSource source(f.proc(), f.dev());
  Result<TableAndHolders> all = source.ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_THAT(Pids(all->table), ElementsAre(10, 14));
  EXPECT_THAT(HolderPids(all->holders), ElementsAre(10));
  EXPECT_EQ(all->holders.unreadable, 0);
  Result<TableAndHolders> holders = source.ListWithHolders(TableRows::kHolders);
  ASSERT_TRUE(holders.has_value()) << holders.error().message;
  EXPECT_THAT(Pids(holders->table), ElementsAre(10));
  EXPECT_THAT(HolderPids(holders->holders), ElementsAre(10));
  EXPECT_EQ(holders->holders.unreadable, 0);
}

// Makes <proc>/<pid>/maps a FIFO, and runs `meanwhile` once the scan has opened it (so after the
// process's stat and fd directory were read, before its holder check), then writes `maps`.
class MapsGate {
 public:
  MapsGate(const std::string& maps_path, std::string maps, std::function<void()> meanwhile)
      : path_(maps_path) {
    std::error_code ec;
    fs::remove(path_, ec);
    EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0);
    writer_ = std::thread([this, maps = std::move(maps), meanwhile = std::move(meanwhile)] {
      // Non-blocking open fails (ENXIO) until the scan opens the FIFO for reading.
      int fd = -1;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while ((fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (fd < 0) return;  // the scan never opened it: opened_ stays false
      opened_ = true;
      meanwhile();
      EXPECT_EQ(::write(fd, maps.data(), maps.size()), static_cast<ssize_t>(maps.size()));
      ::close(fd);
    });
  }
  ~MapsGate() {
    if (writer_.joinable()) writer_.join();
  }
  // Waits for the writer; whether the scan opened the maps.
  bool Opened() {
    writer_.join();
    return opened_;
  }

 private:
  std::string path_;
  std::thread writer_;
  bool opened_ = false;
};

// The pid is reused while its holder data are read: the new process's fds and maps must never
// be shown as the old process's row. In a fixture the "new process" is a rewritten stat with
// another start time; the real kernel's case (the old process's stat fails with ESRCH) is
// ProcfsRealTest.HolderThatExitsDuringItsReadIsSkipped. (kHolders opens stat and maps through
// the fd directory, which the kernel binds to its process: FdDirectoryParentStaysWithItsProcess.)
TEST(ProcfsSourceTest, PidReusedDuringTheReadIsSkipped) {
  ProcFixture f;
  f.Add({.pid = 10, .comm = "python3", .fds = {f.Node("nvidia0")}});
  f.Add({.pid = 20, .comm = "old", .start_time = 5000, .fds = {f.Node("nvidia1")}});
  const std::string stat_path = f.proc() + "/20/stat";
  MapsGate gate(f.proc() + "/20/maps", MapsLine(f.Node("nvidia1")), [&] {
    // Same file (the scan holds it open), new content: a process with the same pid.
    WriteFile(stat_path, StatLine(20, "new", 'S', 1, 20, 20, 7777));
  });
  Result<TableAndHolders> all = ProcfsSource(f.proc(), f.dev()).ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(gate.Opened());
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_THAT(Pids(all->table), ElementsAre(10));
  EXPECT_THAT(HolderPids(all->holders), ElementsAre(10));
}

// Large tables are read in chunks on several threads (on machines with several CPUs): the
// result must still be complete and sorted.
TEST(ProcfsSourceTest, LargeTableIsCompleteAndSorted) {
  ProcFixture f;
  constexpr pid_t kCount = 600;
  std::vector<pid_t> expected_holders;
  for (pid_t pid = 10; pid < 10 + kCount; ++pid) {
    FakeProcess p{.pid = pid, .comm = "w" + std::to_string(pid), .start_time = 1000u + pid};
    p.argv = {"worker", std::to_string(pid)};
    if (pid % 7 == 0) {
      p.fds = {f.Node("nvidia" + std::to_string(pid % 3))};
      p.maps = MapsLine(f.Node("nvidia" + std::to_string(pid % 3)));
      expected_holders.push_back(pid);
    }
    f.Add(p);
  }
  ProcfsSource source(f.proc(), f.dev());
  Result<std::vector<ProcessInfo>> list = source.List(Detail::kBasic);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->size(), static_cast<std::size_t>(kCount));
  for (pid_t i = 0; i < kCount; ++i) {
    const ProcessInfo& p = (*list)[static_cast<std::size_t>(i)];
    ASSERT_EQ(p.pid, 10 + i);
    EXPECT_EQ(p.start_time, 1010u + static_cast<std::uint64_t>(i));
    EXPECT_EQ(p.CommandLine(), "worker " + std::to_string(p.pid));
  }
  Result<HolderScan> scan = source.ScanDeviceHolders();
  ASSERT_TRUE(scan.has_value()) << scan.error().message;
  std::vector<pid_t> holders;
  for (const DeviceHolder& h : scan->holders) {
    holders.push_back(h.pid);
    EXPECT_THAT(h.mapped_minors, ElementsAre(static_cast<unsigned>(h.pid % 3)));
  }
  EXPECT_EQ(holders, expected_holders);

  Result<TableAndHolders> all = source.ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_EQ(Pids(all->table), Pids(*list));
  EXPECT_EQ(HolderPids(all->holders), expected_holders);
  Result<TableAndHolders> only = source.ListWithHolders(TableRows::kHolders);
  ASSERT_TRUE(only.has_value()) << only.error().message;
  EXPECT_EQ(Pids(only->table), expected_holders);
  EXPECT_EQ(HolderPids(only->holders), expected_holders);
}

TEST(ProcfsSourceTest, MissingProcRootIsAnError) {
  ProcfsSource source("/no/such/proc", "/dev");
  Result<std::vector<ProcessInfo>> list = source.List(Detail::kBasic);
  ASSERT_FALSE(list.has_value());
  EXPECT_EQ(list.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(list.error().message, ::testing::HasSubstr("/no/such/proc"));
  EXPECT_FALSE(source.ScanDeviceHolders().has_value());
  EXPECT_FALSE(source.Get(1).has_value());
}

// ---- The real /proc ----

// Clock ticks since boot now, from /proc/uptime.
std::uint64_t UptimeTicks() {
  std::ifstream in("/proc/uptime");
  double seconds = 0;
  in >> seconds;
  return static_cast<std::uint64_t>(seconds * static_cast<double>(::sysconf(_SC_CLK_TCK))) + 1;
}

TEST(ProcfsRealTest, FindsItself) {
  ProcfsSource source;
  Result<std::vector<ProcessInfo>> list = source.List(Detail::kBasic);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  EXPECT_TRUE(std::is_sorted(list->begin(), list->end(),
                             [](const auto& a, const auto& b) { return a.pid < b.pid; }));
  const ProcessInfo* self = Find(*list, ::getpid());
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->ppid, ::getppid());
  EXPECT_EQ(self->uid, ::getuid());
  EXPECT_EQ(self->user, UserNameForUid(::getuid()));
  EXPECT_EQ(self->pgid, ::getpgrp());
  EXPECT_EQ(self->sid, ::getsid(0));
  // Running, or sleeping: a large table is read by worker threads while this (main) thread
  // waits for them, and /proc/<pid>/stat shows the main thread's state.
  EXPECT_TRUE(self->state == 'R' || self->state == 'S') << self->state;
  EXPECT_THAT(self->argv, ::testing::ContainerEq(::testing::internal::GetArgvs()));
  EXPECT_GT(self->start_time, 0u);
  EXPECT_LE(self->start_time, UptimeTicks());
  ASSERT_FALSE(self->nspid.empty());
  EXPECT_EQ(self->nspid.front(), ::getpid());

  Result<ProcessInfo> full = source.Get(::getpid());
  ASSERT_TRUE(full.has_value()) << full.error().message;
  EXPECT_EQ(full->start_time, self->start_time);
  EXPECT_EQ(full->cwd, fs::current_path().string());
  EXPECT_EQ(full->instance_tag, std::nullopt);
}

// Forks a child that runs `body` (async-signal-safe calls only), which writes one byte to
// `ready` when it is set up, or execs (the O_CLOEXEC pipe then reads EOF once the exec is done).
// The destructor kills and reaps it.
class ChildProcess {
 public:
  template <class F>
  explicit ChildProcess(F body, bool execs = false) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      body(fds[1]);
      ::_exit(0);
    }
    ::close(fds[1]);
    char byte = 0;
    EXPECT_EQ(::read(fds[0], &byte, 1), execs ? 0 : 1) << "child did not get ready";
    ::close(fds[0]);
  }
  ~ChildProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

TEST(ProcfsRealTest, InstanceTagFromEnvironment) {
  ChildProcess child(
      [](int ready) {
        char arg0[] = "sleep";
        char arg1[] = "30";
        char* argv[] = {arg0, arg1, nullptr};
        char env0[] = "VRAMGUARD_INSTANCE=svc@7";
        char env1[] = "PATH=/usr/bin:/bin";
        char* envp[] = {env0, env1, nullptr};
        ::execve("/bin/sleep", argv, envp);
        ::write(ready, "x", 1);  // exec failed
        ::_exit(127);
      },
      /*execs=*/true);
  // The pipe closes during exec, slightly before the new argv is in place: poll for it.
  ProcfsSource source;
  Result<ProcessInfo> info = source.Get(child.pid());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (info && info->argv != std::vector<std::string>{"sleep", "30"} &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    info = source.Get(child.pid());
  }
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_THAT(info->argv, ElementsAre("sleep", "30"));
  EXPECT_EQ(info->instance_tag, "svc@7");
  EXPECT_EQ(info->ppid, ::getpid());
}

// The simulated driver's way to "hold a context": open the node file and map it.
TEST(ProcfsRealTest, ScanFindsChildThatMapsTheNode) {
  TempDir dir{"vg_proc_", /*in_memory=*/true};
  const std::string dev = dir.path() + "/dev";
  fs::create_directories(dev);
  const std::string node = dev + "/nvidia0";
  WriteFile(node, std::string(4096, '\0'));
  WriteFile(dev + "/nvidiactl", std::string(4096, '\0'));

  ChildProcess holder([&node](int ready) {
    const int fd = ::open(node.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) ::_exit(1);
    void* map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) ::_exit(1);
    ::write(ready, "x", 1);
    for (;;) ::pause();
  });
  // The parent only opens it: a monitor.
  const int fd = ::open(node.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);

  ProcfsSource source("/proc", dev);
  Result<HolderScan> scan = source.ScanDeviceHolders();
  ::close(fd);
  ASSERT_TRUE(scan.has_value()) << scan.error().message;
  std::map<pid_t, DeviceHolder> by_pid;
  for (const DeviceHolder& h : scan->holders) by_pid[h.pid] = h;
  ASSERT_EQ(by_pid.count(holder.pid()), 1u);
  EXPECT_THAT(by_pid[holder.pid()].open_minors, ElementsAre(0u));
  EXPECT_THAT(by_pid[holder.pid()].mapped_minors, ElementsAre(0u));
  EXPECT_FALSE(by_pid[holder.pid()].opens_ctl);
  ASSERT_EQ(by_pid.count(::getpid()), 1u);
  EXPECT_THAT(by_pid[::getpid()].open_minors, ElementsAre(0u));
  EXPECT_THAT(by_pid[::getpid()].mapped_minors, IsEmpty());
  EXPECT_EQ(scan->holders.size(), 2u);  // nobody else uses this temp dir
}

// HolderOf reads one process's nodes as the scan would, now: what it holds, nothing once closed,
// and kNotFound for a pid that does not exist.
TEST(ProcfsRealTest, HolderOfReadsOneProcessNow) {
  TempDir dir{"vg_proc_", /*in_memory=*/true};
  const std::string dev = dir.path() + "/dev";
  fs::create_directories(dev);
  WriteFile(dev + "/nvidia2", std::string(4096, '\0'));
  WriteFile(dev + "/nvidiactl", std::string(4096, '\0'));
  ProcfsSource source("/proc", dev);

  Result<std::optional<DeviceHolder>> none = source.HolderOf(::getpid());
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_FALSE(none->has_value());

  const int node = ::open((dev + "/nvidia2").c_str(), O_RDONLY | O_CLOEXEC);
  const int ctl = ::open((dev + "/nvidiactl").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(node, 0);
  ASSERT_GE(ctl, 0);
  Result<std::optional<DeviceHolder>> held = source.HolderOf(::getpid());
  ::close(node);
  ::close(ctl);
  ASSERT_TRUE(held.has_value()) << held.error().message;
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ((*held)->pid, ::getpid());
  EXPECT_THAT((*held)->open_minors, ElementsAre(2u));
  EXPECT_THAT((*held)->mapped_minors, IsEmpty());
  EXPECT_TRUE((*held)->opens_ctl);

  Result<std::optional<DeviceHolder>> closed = source.HolderOf(::getpid());
  ASSERT_TRUE(closed.has_value()) << closed.error().message;
  EXPECT_FALSE(closed->has_value());

  Result<std::optional<DeviceHolder>> gone = source.HolderOf(4194304);  // above pid_max
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

// A process with more fds than one getdents64 batch holds (8 KiB, ~340 entries) and the node
// last: the walk must read on past full batches (and stops after a short one, on procfs).
TEST(ProcfsRealTest, NodeBehindManyFdsIsFound) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur < 800) {
    GTEST_SKIP() << "needs 800 open files (ulimit -n)";
  }
  TempDir dir{"vg_proc_", /*in_memory=*/true};
  const std::string dev = dir.path() + "/dev";
  fs::create_directories(dev);
  const std::string node = dev + "/nvidia3";
  WriteFile(node, std::string(4096, '\0'));
  ChildProcess holder([&node](int ready) {
    for (int i = 0; i < 700; ++i) {
      if (::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) ::_exit(1);
    }
    if (::open(node.c_str(), O_RDONLY | O_CLOEXEC) < 0) ::_exit(1);
    ::write(ready, "x", 1);
    for (;;) ::pause();
  });
  for (const TableRows rows : {TableRows::kAll, TableRows::kHolders}) {
    Result<TableAndHolders> all = ProcfsSource("/proc", dev).ListWithHolders(rows);
    ASSERT_TRUE(all.has_value()) << all.error().message;
    ASSERT_THAT(HolderPids(all->holders), ElementsAre(holder.pid()));
    EXPECT_THAT(all->holders.holders[0].open_minors, ElementsAre(3u));
    EXPECT_THAT(all->holders.holders[0].mapped_minors, IsEmpty());
    const ProcessInfo* row = Find(all->table, holder.pid());
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->ppid, ::getpid());
  }
}

// Kernel threads are listed with an empty argv. On Linux 6.18 opening their environ fails with
// ESRCH (as for a vanished process): that must not drop them from a kFull listing.
TEST(ProcfsRealTest, KernelThreadsAreListed) {
  Result<procfs::StatFields> kthreadd = ReadProcStat("/proc", 2);
  if (!kthreadd || kthreadd->comm != "kthreadd")
    GTEST_SKIP() << "no kthreadd in this pid namespace";
  ProcfsSource source;
  for (const Detail detail : {Detail::kBasic, Detail::kFull}) {
    Result<std::vector<ProcessInfo>> list = source.List(detail);
    ASSERT_TRUE(list.has_value()) << list.error().message;
    const ProcessInfo* p = Find(*list, 2);
    ASSERT_NE(p, nullptr);
    EXPECT_THAT(p->argv, IsEmpty());
    EXPECT_EQ(p->CommandLine(), "[kthreadd]");
    EXPECT_EQ(p->instance_tag, std::nullopt);
  }
  Result<ProcessInfo> got = source.Get(2);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->comm, "kthreadd");

  // The one pass lists them without opening their (empty) fd directories; root owns them.
  Result<TableAndHolders> all = source.ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  const ProcessInfo* p = Find(all->table, 2);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "kthreadd");
  EXPECT_EQ(p->uid, 0u);
}

// Processes that exit while being read are skipped, never an error.
TEST(ProcfsRealTest, ChurnNeverFailsAListing) {
  int stop[2];
  ASSERT_EQ(::pipe2(stop, O_CLOEXEC), 0);
  const pid_t churner = ::fork();
  ASSERT_GE(churner, 0);
  if (churner == 0) {
    ::close(stop[1]);
    pollfd until_stopped{stop[0], POLLIN, 0};
    while (::poll(&until_stopped, 1, 0) == 0) {  // EOF once the parent closes its end
      const pid_t kid = ::fork();                // short-lived, reaped at once
      if (kid == 0) ::_exit(0);
      if (kid > 0) ::waitpid(kid, nullptr, 0);
    }
    ::_exit(0);
  }
  ::close(stop[0]);
  ProcfsSource source;
  int failures = 0;
  for (int i = 0; i < 30; ++i) {
    if (!source.List(i % 2 == 0 ? Detail::kBasic : Detail::kFull)) ++failures;
    if (!source.ScanDeviceHolders()) ++failures;
    if (!source.ListWithHolders(TableRows::kAll)) ++failures;
    if (!source.ListWithHolders(TableRows::kHolders)) ++failures;
  }
  ::close(stop[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(churner, &status, 0), churner);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(failures, 0);
}

// The real kernel's side of PidReusedDuringTheReadIsSkipped: the fixture's stat is the /proc
// stat of a real child, which exits (and is reaped, so its pid could be reused) after the scan
// read its stat and fds. The stat descriptor the scan holds then fails with ESRCH, and the
// holder found under that pid is not reported.
TEST(ProcfsRealTest, HolderThatExitsDuringItsReadIsSkipped) {
  ProcFixture f;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  f.Add({.pid = 10, .comm = "python3", .fds = {f.Node("nvidia0")}});
  f.Add({.pid = 20, .comm = "python3", .fds = {f.Node("nvidia1")}});
  fs::remove(f.proc() + "/20/stat");
  fs::create_symlink("/proc/" + std::to_string(child) + "/stat", f.proc() + "/20/stat");
  bool reaped = false;
  MapsGate gate(f.proc() + "/20/maps", MapsLine(f.Node("nvidia1")), [&] {
    ::kill(child, SIGKILL);
    reaped = ::waitpid(child, nullptr, 0) == child;
  });
  Result<TableAndHolders> all = ProcfsSource(f.proc(), f.dev()).ListWithHolders(TableRows::kAll);
  ASSERT_TRUE(gate.Opened());
  if (!reaped) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
  ASSERT_TRUE(reaped);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_THAT(Pids(all->table), ElementsAre(10));
  EXPECT_THAT(HolderPids(all->holders), ElementsAre(10));
}

// The fd walk blocks signals on the calling thread while it reads (a pending signal would cut a
// getdents64 batch short); the caller's mask is back afterwards, exactly.
TEST(ProcfsRealTest, CallersSignalMaskIsRestored) {
  sigset_t mine;
  sigset_t before;
  ::sigemptyset(&mine);
  ::sigaddset(&mine, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &mine, &before), 0);
  sigset_t during;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, nullptr, &during), 0);
  for (const TableRows rows : {TableRows::kAll, TableRows::kHolders}) {
    ASSERT_TRUE(ProcfsSource().ListWithHolders(rows).has_value());
    sigset_t after;
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, nullptr, &after), 0);
    for (int sig = 1; sig < SIGRTMIN; ++sig) {
      EXPECT_EQ(::sigismember(&after, sig), ::sigismember(&during, sig)) << sig;
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

// What kHolders relies on: a process's fd directory, once open, keeps its parent — that process's
// /proc directory — so "fd/../stat" and "fd/../maps" fail once the process has been reaped, even
// if its pid now names another process.
TEST(ProcfsRealTest, FdDirectoryParentStaysWithItsProcess) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  const std::string dir = "/proc/" + std::to_string(child) + "/fd";
  const int fds = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fds, 0);
  const int before = ::openat(fds, "../stat", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(before, 0);
  if (before >= 0) ::close(before);
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  for (const char* file : {"../stat", "../maps"}) {
    errno = 0;
    const int after = ::openat(fds, file, O_RDONLY | O_CLOEXEC);
    EXPECT_LT(after, 0) << file;
    EXPECT_TRUE(errno == ESRCH || errno == ENOENT) << file << ": " << std::strerror(errno);
    if (after >= 0) ::close(after);
  }
  ::close(fds);
}

// As an unprivileged user, other users' fd directories cannot be read: counted, not fatal.
TEST(ProcfsRealTest, UnreadableFdDirsAreCounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    ProcfsSource source;
    Result<HolderScan> scan = source.ScanDeviceHolders();
    if (!scan) ::_exit(3);
    if (scan->unreadable < 1) ::_exit(4);  // at least this test's own (root) process
    int counted[2] = {0, 0};
    for (const TableRows rows : {TableRows::kAll, TableRows::kHolders}) {
      Result<TableAndHolders> all = source.ListWithHolders(rows);
      if (!all) ::_exit(5);
      if (all->holders.unreadable < 1) ::_exit(6);
      if (Find(all->table, ::getppid()) == nullptr) ::_exit(7);  // the row stays, its fds do not
      counted[rows == TableRows::kAll ? 0 : 1] = all->holders.unreadable;
    }
    // Kernel threads' fd directories are root's too, but they hold nothing: kAll never opens
    // them, kHolders does and must not count them (a margin for processes that come and go).
    if (std::abs(counted[0] - counted[1]) > 5) ::_exit(8);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The fd directory can be listed but its links not read: as root without CAP_SYS_PTRACE, the
// kernel's ptrace check refuses the links of a process that has capabilities we lack (this
// test's parent). Such a process is counted unreadable, its walk stopped at the first link.
TEST(ProcfsRealTest, LinksDeniedByThePtraceCheckAreCounted) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2]{};
  if (::geteuid() != 0 || ::syscall(SYS_capget, &header, caps) != 0 ||
      (caps[0].permitted & (1u << CAP_SYS_PTRACE)) == 0) {
    GTEST_SKIP() << "needs root with CAP_SYS_PTRACE, to drop it";
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    caps[0].effective &= ~(1u << CAP_SYS_PTRACE);
    caps[0].permitted &= ~(1u << CAP_SYS_PTRACE);
    caps[0].inheritable &= ~(1u << CAP_SYS_PTRACE);
    if (::syscall(SYS_capset, &header, caps) != 0) ::_exit(2);
    ProcfsSource source;
    for (const TableRows rows : {TableRows::kAll, TableRows::kHolders}) {
      Result<TableAndHolders> all = source.ListWithHolders(rows);
      if (!all) ::_exit(3);
      if (all->holders.unreadable < 1) ::_exit(4);
      if (Find(all->table, ::getppid()) == nullptr) ::_exit(5);  // the row stays
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace vg
