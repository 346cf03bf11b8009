// Tests of the vg-simgpu tool: the built binary, run as a child process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "sim_state.h"
#include "sim_test_util.h"

namespace vg::sim {
namespace {
namespace fs = std::filesystem;
using testing::Children;
using testing::ReadText;
using testing::TempDir;

using testing::kGiB;
using testing::kMiB;

struct Spawned {
  pid_t pid = -1;
  int out_fd = -1;  // the child's stdout
  int err_fd = -1;  // the child's stderr
};

Spawned Spawn(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    std::vector<char*> argv;
    std::string tool = VG_SIMGPU_PATH;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  return {pid, out[0], err[0]};
}

// Reads one line from fd (up to the newline).
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

struct Finished {
  int status = -1;
  std::string out;
  std::string err;
};

class SimGpuToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path() / "state";
    auto r = RunToEnd({"create", "--dir", dir_.string(), "--gpus", "2", "--total", "8GiB",
                       "--overhead", "100MiB", "--reserved", "50MiB"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  void TearDown() override {
    for (auto& s : spawned_) {
      ::close(s.out_fd);
      ::close(s.err_fd);
    }
  }

  Spawned Start(std::vector<std::string> args) {
    args.insert(args.begin(), {"run", "--dir", dir_.string()});
    Spawned s = Spawn(args);
    children_.Add(s.pid);
    spawned_.push_back(s);
    return s;
  }

  Finished RunToEnd(const std::vector<std::string>& args) {
    Spawned s = Spawn(args);
    children_.Add(s.pid);
    Finished f;
    f.out = ReadAll(s.out_fd);
    f.err = ReadAll(s.err_fd);
    ::close(s.out_fd);
    ::close(s.err_fd);
    f.status = children_.Reap(s.pid).value_or(-1);
    return f;
  }

  std::vector<LiveContext> Live(unsigned gpu = 0) {
    auto live = ListLiveContexts(dir_, gpu);
    EXPECT_TRUE(live.has_value());
    return live.value_or(std::vector<LiveContext>{});
  }

  TempDir tmp_;
  fs::path dir_;
  Children children_;
  std::vector<Spawned> spawned_;
};

TEST_F(SimGpuToolTest, CreateWritesDevices) {
  auto devices = ReadDevices(dir_);
  ASSERT_TRUE(devices.has_value());
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_EQ((*devices)[0].total_bytes, 8 * kGiB);
  EXPECT_EQ((*devices)[0].context_overhead_bytes, 100 * kMiB);
  EXPECT_EQ((*devices)[0].reserved_bytes, 50 * kMiB);
  EXPECT_EQ((*devices)[0].name, "NVIDIA GeForce RTX 4090 (simulated)");
}

TEST_F(SimGpuToolTest, CreateUsesTheEnvironmentAndDefaults) {
  fs::path other = tmp_.path() / "env";
  ::setenv(kDirEnvVar, other.c_str(), 1);
  auto r = RunToEnd({"create"});
  ::unsetenv(kDirEnvVar);
  ASSERT_EQ(r.status, 0) << r.err;
  auto devices = ReadDevices(other);
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].total_bytes, 24 * kGiB);
  EXPECT_EQ((*devices)[0].context_overhead_bytes, 500 * kMiB);
  EXPECT_EQ((*devices)[0].reserved_bytes, 0u);
}

TEST_F(SimGpuToolTest, BadUsageExitsWith2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{},
        {"frobnicate"},
        {"run", "--dir", "x", "--bogus"},
        {"run", "--dir", "x", "--alloc"},
        {"run", "--dir", "x", "--alloc", "lots"},
        {"run", "--dir", "x", "--exit-after", "1s", "--crash-after", "1s"},
        {"create", "--dir", "x", "--gpus", "many"}}) {
    auto r = RunToEnd(args);
    ASSERT_TRUE(WIFEXITED(r.status));
    EXPECT_EQ(WEXITSTATUS(r.status), 2) << ::testing::PrintToString(args);
    EXPECT_FALSE(r.err.empty());
  }
  ::unsetenv(kDirEnvVar);
  auto r = RunToEnd({"state"});
  EXPECT_EQ(WEXITSTATUS(r.status), 2);
  EXPECT_NE(r.err.find("VRAMGUARD_FAKE_GPU_DIR"), std::string::npos);
}

TEST_F(SimGpuToolTest, RunWithWorkerLeavesAGhostWhenKilled) {
  fs::path ready = tmp_.path() / "ready";
  Spawned s =
      Start({"--alloc", "1GiB", "--fork-worker", "--new-session", "--ready-file", ready.string()});
  std::string line = ReadLine(s.out_fd);
  ASSERT_TRUE(fs::exists(ready));
  std::string content = ReadText(ready);
  pid_t pid = 0, worker = 0;
  ASSERT_EQ(std::sscanf(content.c_str(), "%d %d\n", &pid, &worker), 2) << content;
  EXPECT_EQ(content, std::to_string(pid) + " " + std::to_string(worker) + "\n");
  EXPECT_EQ(pid, s.pid);
  children_.Add(worker);  // reparented to us once its parent dies (subreaper)
  EXPECT_EQ(line, "vg-simgpu: pid " + std::to_string(pid) + " holds 1.0 GiB on GPU 0, worker pid " +
                      std::to_string(worker));

  // The worker: recognisable comm, same session (sid = the parent's pid), mapping inherited.
  EXPECT_EQ(ReadText("/proc/" + std::to_string(worker) + "/comm"), "vg-sim-worker\n");
  EXPECT_EQ(::getsid(worker), pid);
  EXPECT_EQ(::getpgid(worker), pid);
  std::string node = (dir_ / "dev" / "nvidia0").string();
  EXPECT_NE(ReadText("/proc/" + std::to_string(worker) + "/maps").find(node), std::string::npos);
  EXPECT_NE(ReadText("/proc/" + std::to_string(pid) + "/maps").find(node), std::string::npos);

  EXPECT_EQ(Live(), (std::vector<LiveContext>{{pid, kGiB}}));
  children_.Kill(pid);
  EXPECT_EQ(Live(), (std::vector<LiveContext>{{pid, kGiB}}));  // the ghost
  children_.Kill(worker);
  EXPECT_TRUE(Live().empty());
}

TEST_F(SimGpuToolTest, RunWithoutAllocHoldsAnEmptyContext) {
  fs::path ready = tmp_.path() / "ready";
  Spawned s = Start({"--gpu", "1", "--ready-file", ready.string()});
  EXPECT_EQ(ReadLine(s.out_fd), "vg-simgpu: pid " + std::to_string(s.pid) + " holds 0 B on GPU 1");
  EXPECT_EQ(ReadText(ready), std::to_string(s.pid) + "\n");
  EXPECT_EQ(Live(1), (std::vector<LiveContext>{{s.pid, 0}}));
}

TEST_F(SimGpuToolTest, AllocationThatDoesNotFitExitsWith3) {
  auto r = RunToEnd({"run", "--dir", dir_.string(), "--alloc", "8GiB"});
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 3);
  EXPECT_NE(r.err.find("CUDA out of memory"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_TRUE(Live().empty());
}

TEST_F(SimGpuToolTest, ExitAfterAndCrashAfter) {
  auto r = RunToEnd({"run", "--dir", dir_.string(), "--alloc", "1GiB", "--exit-after", "50ms"});
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 0);
  EXPECT_TRUE(Live().empty());

  r = RunToEnd({"run", "--dir", dir_.string(), "--alloc", "1GiB", "--crash-after", "50ms"});
  ASSERT_TRUE(WIFSIGNALED(r.status));
  EXPECT_EQ(WTERMSIG(r.status), SIGSEGV);
  EXPECT_FALSE(WCOREDUMP(r.status));
  EXPECT_TRUE(Live().empty());
}

TEST_F(SimGpuToolTest, IgnoreTermSurvivesSigterm) {
  fs::path ready = tmp_.path() / "ready";
  Spawned s =
      Start({"--alloc", "1GiB", "--ignore-term", "--fork-worker", "--ready-file", ready.string()});
  ReadLine(s.out_fd);
  pid_t worker = 0;
  ASSERT_EQ(std::sscanf(ReadText(ready).c_str(), "%*d %d", &worker), 1);
  children_.Add(worker);
  ::kill(s.pid, SIGTERM);
  ::kill(worker, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(::waitpid(s.pid, nullptr, WNOHANG), 0);
  EXPECT_EQ(::kill(worker, 0), 0);
  EXPECT_NE(ReadText("/proc/" + std::to_string(worker) + "/stat").find(") S "), std::string::npos);
  EXPECT_EQ(Live().size(), 1u);
}

TEST_F(SimGpuToolTest, TermDelayExitsCleanlyAfterTheDelay) {
  fs::path ready = tmp_.path() / "ready";
  Spawned s = Start({"--alloc", "1GiB", "--term-delay", "300ms", "--ready-file", ready.string()});
  ReadLine(s.out_fd);
  auto start = std::chrono::steady_clock::now();
  ::kill(s.pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Live().size(), 1u);  // still shutting down
  auto status = children_.Reap(s.pid);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_TRUE(Live().empty());
}

TEST_F(SimGpuToolTest, DefaultSigtermKillsAtOnce) {
  Spawned s = Start({"--alloc", "1GiB"});
  ReadLine(s.out_fd);
  ::kill(s.pid, SIGTERM);
  auto status = children_.Reap(s.pid);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
  EXPECT_TRUE(Live().empty());
}

TEST_F(SimGpuToolTest, StateReportsLiveContexts) {
  Spawned a = Start({"--alloc", "1GiB"});
  ReadLine(a.out_fd);
  Spawned b = Start({"--gpu", "1", "--alloc", "512MiB"});
  ReadLine(b.out_fd);
  auto r = RunToEnd({"state", "--dir", dir_.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_EQ(j["gpus"].size(), 2u);
  const auto& g0 = j["gpus"][0];
  EXPECT_EQ(g0["index"], 0);
  EXPECT_EQ(g0["total_bytes"], 8 * kGiB);
  EXPECT_EQ(g0["used_bytes"], kGiB + 100 * kMiB);
  EXPECT_EQ(g0["free_bytes"], 8 * kGiB - 50 * kMiB - kGiB - 100 * kMiB);
  ASSERT_EQ(g0["contexts"].size(), 1u);
  EXPECT_EQ(g0["contexts"][0]["pid"], a.pid);
  EXPECT_EQ(g0["contexts"][0]["allocated_bytes"], kGiB);
  EXPECT_EQ(g0["contexts"][0]["used_bytes"], kGiB + 100 * kMiB);
  const auto& g1 = j["gpus"][1];
  ASSERT_EQ(g1["contexts"].size(), 1u);
  EXPECT_EQ(g1["contexts"][0]["pid"], b.pid);
  EXPECT_EQ(g1["contexts"][0]["allocated_bytes"], 512 * kMiB);
}

}  // namespace
}  // namespace vg::sim
