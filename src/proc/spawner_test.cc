#include "proc/spawner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "proc/cgroup.h"
#include "proc/procfs.h"
#include "proc/procfs_parse.h"
#include "testing/fake_spawner.h"
#include "testing/temp_dir.h"

namespace vg {
namespace {

namespace fs = std::filesystem;
using vg::testing::TempDir;

std::string SpawnedReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// No child of this process is left, zombie or alive.
bool NoChildrenLeft() {
  int status = 0;
  return ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
}

// A spawned process owned by a test: its descriptors closed, and the process killed and reaped
// whatever happens.
class SpawnedChild {
 public:
  explicit SpawnedChild(SpawnedProcess p) : p_(p) {}
  SpawnedChild(const SpawnedChild&) = delete;
  SpawnedChild& operator=(const SpawnedChild&) = delete;
  ~SpawnedChild() {
    if (!reaped_) {
      ::kill(p_.pid, SIGKILL);
      Wait();
    }
    for (int fd : {p_.pidfd, p_.stdout_fd, p_.stderr_fd}) {
      if (fd >= 0) ::close(fd);
    }
  }
  const SpawnedProcess& proc() const { return p_; }
  pid_t pid() const { return p_.pid; }

  // stdout and stderr until both reach EOF (the pipes are non-blocking: poll for them).
  std::pair<std::string, std::string> ReadAll() {
    std::string out, err;
    std::vector<pollfd> fds = {{p_.stdout_fd, POLLIN, 0}, {p_.stderr_fd, POLLIN, 0}};
    int open = 2;
    while (open > 0) {
      if (::poll(fds.data(), fds.size(), 10000) <= 0) {
        ADD_FAILURE() << "no output or EOF within 10 s";
        break;
      }
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
        if (n > 0) {
          (i == 0 ? out : err).append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EAGAIN) {
          fds[i].fd = -1;
          --open;
        }
      }
    }
    return {out, err};
  }
  // The wait status.
  int Wait() {
    int status = 0;
    while (::waitpid(p_.pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  SpawnedProcess p_;
  bool reaped_ = false;
};

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

class SpawnTest : public ::testing::TestWithParam<PosixSpawner::Mode> {
 protected:
  Result<SpawnedProcess> Spawn(const SpawnSpec& spec) { return spawner_.Spawn(spec); }
  std::unique_ptr<SpawnedChild> Start(const SpawnSpec& spec) {
    auto p = spawner_.Spawn(spec);
    EXPECT_TRUE(p) << p.error().message;
    if (!p) return nullptr;
    return std::make_unique<SpawnedChild>(*p);
  }
  static SpawnSpec Sh(std::string script) { return SpawnSpec{.argv = {"sh", "-c", script}}; }
  static SpawnSpec Sleep() { return SpawnSpec{.argv = {"sleep", "30"}}; }

  PosixSpawner spawner_{GetParam()};
};

TEST_P(SpawnTest, CapturesStdoutStderrAndExitCode) {
  auto child = Start(Sh("echo out; echo err >&2; echo more; exit 3"));
  ASSERT_TRUE(child);
  for (int fd : {child->proc().stdout_fd, child->proc().stderr_fd}) {
    ASSERT_GE(fd, 3);
    EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }
  const auto [out, err] = child->ReadAll();
  EXPECT_EQ(out, "out\nmore\n");
  EXPECT_EQ(err, "err\n");
  const int status = child->Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST_P(SpawnTest, ChildIsASessionLeaderWithItsStartTime) {
  auto child = Start(Sleep());
  ASSERT_TRUE(child);
  EXPECT_EQ(::getsid(child->pid()), child->pid());
  EXPECT_EQ(::getpgid(child->pid()), child->pid());
  EXPECT_NE(::getsid(child->pid()), ::getsid(0));
  auto stat = ReadProcStat("/proc", child->pid());
  ASSERT_TRUE(stat);
  EXPECT_EQ(child->proc().start_time, stat->start_time);
  EXPECT_EQ(stat->ppid, ::getpid());
}

TEST_P(SpawnTest, InstanceTagAndEnvInEnviron) {
  ScopedEnv inherited("VRAMGUARD_INSTANCE", "the-daemons-own");
  SpawnSpec spec = Sleep();
  spec.instance_tag = "i2v-42";
  spec.env = {{"CUDA_DEVICE_ORDER", "PCI_BUS_ID"}, {"HOME", "/srv/svc"}};
  auto child = Start(spec);
  ASSERT_TRUE(child);
  const std::string environ = SpawnedReadText("/proc/" + std::to_string(child->pid()) + "/environ");
  EXPECT_EQ(procfs::FindEnvValue(environ, "VRAMGUARD_INSTANCE"), "i2v-42");
  EXPECT_EQ(procfs::FindEnvValue(environ, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
  EXPECT_EQ(procfs::FindEnvValue(environ, "HOME"), "/srv/svc");
  EXPECT_EQ(environ.find("the-daemons-own"), std::string::npos);
  EXPECT_NE(environ.find("PATH="), std::string::npos) << "the daemon's environment is inherited";
}

TEST_P(SpawnTest, SystemdVariablesAreStripped) {
  ScopedEnv notify("NOTIFY_SOCKET", "/run/systemd/notify");
  ScopedEnv watchdog("WATCHDOG_USEC", "1000000");
  ScopedEnv listen("LISTEN_FDS", "1");
  ScopedEnv invocation("INVOCATION_ID", "abc");
  ScopedEnv kept("VG_SPAWN_TEST_KEPT", "yes");
  auto child = Start(SpawnSpec{.argv = {"env"}});
  ASSERT_TRUE(child);
  const auto [out, err] = child->ReadAll();
  EXPECT_NE(out.find("VG_SPAWN_TEST_KEPT=yes\n"), std::string::npos) << out;
  for (std::string_view var : kStrippedEnvVars) {
    EXPECT_EQ(out.find("\n" + std::string(var) + "="), std::string::npos) << var;
    EXPECT_FALSE(out.starts_with(std::string(var) + "=")) << var;
  }
  EXPECT_EQ(out.find("VRAMGUARD_INSTANCE="), std::string::npos) << "no tag given, none set";
  EXPECT_TRUE(WIFEXITED(child->Wait()));
}

TEST_P(SpawnTest, StdinIsDevNullAndOnlyStdioInherited) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 0);
  auto child = Start(Sleep());
  ::close(leaked);
  ASSERT_TRUE(child);
  const std::string proc = "/proc/" + std::to_string(child->pid());
  EXPECT_EQ(fs::read_symlink(proc + "/fd/0"), "/dev/null");
  // Right after exec the dynamic loader of `sleep` may still hold a library open (as fd 3): wait
  // for the child to settle. An inherited fd would stay, and fail after the deadline.
  std::vector<std::string> fds;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);;) {
    fds.clear();
    for (const auto& e : fs::directory_iterator(proc + "/fd")) fds.push_back(e.path().filename());
    std::sort(fds.begin(), fds.end());
    if (fds.size() == 3 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(fs::read_symlink(proc + "/fd/1").string().starts_with("pipe:"));
  EXPECT_TRUE(fs::read_symlink(proc + "/fd/2").string().starts_with("pipe:"));
  EXPECT_NE(fs::read_symlink(proc + "/fd/1"), fs::read_symlink(proc + "/fd/2"));
}

TEST_P(SpawnTest, OutputPathReceivesBothStreamsWithoutPipes) {
  TempDir dir;
  const std::string path = (fs::path(dir.path()) / "svc.log").string();
  std::ofstream(path) << "earlier run\n";
  SpawnSpec spec = Sh("echo out; echo err >&2");
  spec.output_path = path;
  auto child = Start(spec);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->proc().stdout_fd, -1);
  EXPECT_EQ(child->proc().stderr_fd, -1);
  EXPECT_TRUE(WIFEXITED(child->Wait()));
  EXPECT_EQ(SpawnedReadText(path), "earlier run\nout\nerr\n");  // appended, both streams

  spec.output_path = (fs::path(dir.path()) / "missing" / "svc.log").string();
  auto r = Spawn(spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_P(SpawnTest, CwdHonoured) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  SpawnSpec spec{.argv = {"pwd", "-P"}, .cwd = dir.path()};
  auto child = Start(spec);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->ReadAll().first, dir.path() + "\n");
  EXPECT_TRUE(WIFEXITED(child->Wait()));
}

TEST_P(SpawnTest, MissingCwdFailsWithTheStepAndLeavesNoChild) {
  auto r = Spawn(SpawnSpec{.argv = {"true"}, .cwd = "/nonexistent/vg-spawn-test"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "cannot start 'true': No such file or directory (chdir)");
  EXPECT_FALSE(r.error().hint.empty());
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_P(SpawnTest, MissingBinaryFailsWithErrnoTextAndLeavesNoZombie) {
  auto r = Spawn(SpawnSpec{.argv = {"vg-no-such-program", "--flag"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message,
            "cannot start 'vg-no-such-program': No such file or directory (exec)");
  EXPECT_TRUE(NoChildrenLeft());
  auto abs = Spawn(SpawnSpec{.argv = {"/nonexistent/python3"}});
  ASSERT_FALSE(abs);
  EXPECT_EQ(abs.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_P(SpawnTest, NotExecutableIsPermissionDenied) {
  TempDir dir;
  const fs::path script = fs::path(dir.path()) / "start.sh";
  std::ofstream(script) << "#!/bin/sh\necho hi\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  auto r = Spawn(SpawnSpec{.argv = {script.string()}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message.find("(exec)"), std::string::npos) << r.error().message;
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_P(SpawnTest, SearchesTheServicesOwnPath) {
  TempDir dir;
  const fs::path script = fs::path(dir.path()) / "vg-spawn-hello";
  std::ofstream(script) << "#!/bin/sh\necho \"hello $1\"\n";
  fs::permissions(script, fs::perms::owner_all);
  SpawnSpec spec{.argv = {"vg-spawn-hello", "world"}};
  spec.env["PATH"] = "/nonexistent:" + dir.path() + ":/usr/bin:/bin";
  auto child = Start(spec);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->ReadAll().first, "hello world\n");
  EXPECT_TRUE(WIFEXITED(child->Wait()));
}

TEST_P(SpawnTest, RelativeCommandWithSlashIsRelativeToCwd) {
  TempDir dir;
  std::ofstream(fs::path(dir.path()) / "run.sh") << "#!/bin/sh\necho relative\n";
  fs::permissions(fs::path(dir.path()) / "run.sh", fs::perms::owner_all);
  auto child = Start(SpawnSpec{.argv = {"./run.sh"}, .cwd = dir.path()});
  ASSERT_TRUE(child);
  EXPECT_EQ(child->ReadAll().first, "relative\n");
  EXPECT_TRUE(WIFEXITED(child->Wait()));
}

TEST_P(SpawnTest, DaemonSignalDispositionsAndMaskDoNotLeak) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_term {};
  ASSERT_EQ(::sigaction(SIGTERM, &ignore, &old_term), 0);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGHUP);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  auto child = Start(Sleep());
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ASSERT_TRUE(child);

  const std::string status = SpawnedReadText("/proc/" + std::to_string(child->pid()) + "/status");
  ASSERT_NE(status.find("SigBlk:\t0000000000000000\n"), std::string::npos) << status;
  ASSERT_NE(status.find("SigIgn:\t0000000000000000\n"), std::string::npos) << status;
  ASSERT_EQ(::kill(child->pid(), SIGTERM), 0);
  const int wstatus = child->Wait();
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "SIGTERM was ignored: the daemon's disposition leaked";
  EXPECT_EQ(WTERMSIG(wstatus), SIGTERM);
}

TEST_P(SpawnTest, PidfdBecomesReadableOnExit) {
  auto child = Start(Sleep());
  ASSERT_TRUE(child);
  const int pidfd = child->proc().pidfd;
  ASSERT_GE(pidfd, 0) << "this kernel has pidfds";
  EXPECT_TRUE(::fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
  pollfd p{pidfd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "readable while the child runs";
  ASSERT_EQ(::kill(child->pid(), SIGKILL), 0);
  EXPECT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_TRUE(p.revents & POLLIN);
  EXPECT_TRUE(WIFSIGNALED(child->Wait()));
}

TEST_P(SpawnTest, SwitchesUserWhenRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no 'nobody' user here";
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  TempDir dir;  // cwd the new user may enter
  fs::permissions(dir.path(), fs::perms::all);
  SpawnSpec spec{.argv = {"sh", "-c", "id -u; id -g; id -G"}, .cwd = dir.path()};
  spec.uid = uid;
  auto child = Start(spec);
  ASSERT_TRUE(child);
  const auto [out, err] = child->ReadAll();
  std::istringstream lines(out);
  std::string got_uid, got_gid, groups;
  std::getline(lines, got_uid);
  std::getline(lines, got_gid);
  std::getline(lines, groups);
  EXPECT_EQ(got_uid, std::to_string(uid)) << out << err;
  EXPECT_EQ(got_gid, std::to_string(gid)) << out << err;
  std::istringstream tokens(groups);
  std::vector<std::string> group_list{std::istream_iterator<std::string>(tokens), {}};
  EXPECT_NE(std::find(group_list.begin(), group_list.end(), std::to_string(gid)), group_list.end())
      << groups;
  EXPECT_EQ(std::find(group_list.begin(), group_list.end(), "0"), group_list.end())
      << "root's supplementary groups must be dropped: " << groups;
  EXPECT_TRUE(WIFEXITED(child->Wait()));
}

TEST_P(SpawnTest, RejectsMalformedSpecs) {
  EXPECT_EQ(Spawn(SpawnSpec{}).error().code, ErrorCode::kInvalidArgument);
  SpawnSpec bad_env{.argv = {"true"}};
  bad_env.env["A=B"] = "x";
  EXPECT_EQ(Spawn(bad_env).error().code, ErrorCode::kInvalidArgument);
  SpawnSpec bad_cgroup{.argv = {"true"}};
  bad_cgroup.cgroup = "/nonexistent/cgroup";
  auto r = Spawn(bad_cgroup);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_P(SpawnTest, SafeFromManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto p = spawner_.Spawn(SpawnSpec{.argv = {"true"}});
        if (!p) continue;
        SpawnedChild child(*p);
        child.ReadAll();
        if (WIFEXITED(child.Wait())) ++ok;
      }
    });
  }
  // Meanwhile this thread allocates, the way the daemon's loop would.
  std::vector<std::string> churn;
  for (int i = 0; i < 20000; ++i) churn.emplace_back(100, 'x');
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

// A scratch cgroup v2 group under this process's own, or why there is none here.
struct SpawnerScratchCgroup {
  std::string dir;
  std::string reason;
  SpawnerScratchCgroup() {
    auto mount = FindCgroup2Mount();
    const std::optional<std::string> own = ParseCgroup2Path(SpawnedReadText("/proc/self/cgroup"));
    if (!mount || !own) {
      reason = mount ? "this process is in no cgroup v2 group" : mount.error().message;
      return;
    }
    std::string path =
        *mount + (*own == "/" ? "" : *own) + "/vg-spawn-test-" + std::to_string(::getpid());
    if (::mkdir(path.c_str(), 0755) != 0) {
      reason = "cgroup v2 is not writable here: mkdir " + path + ": " + std::strerror(errno);
      return;
    }
    dir = std::move(path);
  }
  ~SpawnerScratchCgroup() {
    if (!dir.empty()) ::rmdir(dir.c_str());  // children reaped and groups removed by the test
  }
};

TEST_P(SpawnTest, StartsInsideTheGivenCgroup) {
  SpawnerScratchCgroup scratch;
  if (scratch.dir.empty()) GTEST_SKIP() << scratch.reason;
  auto cg = CgroupManager::AtBase(scratch.dir);
  ASSERT_TRUE(cg) << cg.error().message;
  auto group = cg->Create("spawned");
  ASSERT_TRUE(group);
  {
    SpawnSpec spec = Sleep();
    spec.cgroup = *group;
    auto child = Start(spec);
    ASSERT_TRUE(child);
    const std::string mount = *FindCgroup2Mount();
    const std::string in = SpawnedReadText("/proc/" + std::to_string(child->pid()) + "/cgroup");
    EXPECT_EQ(ParseCgroup2Path(in), group->substr(mount.size())) << in;
    auto members = cg->Members(*group);
    ASSERT_TRUE(members);
    EXPECT_EQ(*members, std::vector<pid_t>{child->pid()});
  }
  EXPECT_TRUE(cg->Remove(*group)) << "the child is reaped, the group empty";
}

INSTANTIATE_TEST_SUITE_P(
    Spawn, SpawnTest, ::testing::Values(PosixSpawner::Mode::kAuto, PosixSpawner::Mode::kForkOnly),
    [](const auto& info) { return info.param == PosixSpawner::Mode::kAuto ? "Auto" : "ForkOnly"; });

TEST(SpawnSubreaperTest, BecomesChildSubreaper) {
  // A subprocess, so this test binary's own status does not change.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!BecomeChildSubreaper()) ::_exit(1);
    int on = 0;
    ::prctl(PR_GET_CHILD_SUBREAPER, &on);
    ::_exit(on == 1 ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SpawnFakeTest, RecordsSpecsNumbersPidsAndFailsOnRequest) {
  testing::FakeSpawner fake;
  auto first = fake.Spawn(SpawnSpec{.argv = {"python3", "main.py"}, .instance_tag = "i2v-1"});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->pid, 100001);
  EXPECT_EQ(first->stdout_fd, -1);
  EXPECT_EQ(first->pidfd, -1);
  fake.FailNext(Error{ErrorCode::kNotFound, "cannot start 'python3'", ""});
  auto second = fake.Spawn(SpawnSpec{.argv = {"python3"}});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kNotFound);
  auto third = fake.Spawn(SpawnSpec{.argv = {"python3"}});
  ASSERT_TRUE(third);
  EXPECT_EQ(third->pid, 100003);
  ASSERT_EQ(fake.specs().size(), 3u);
  EXPECT_EQ(fake.specs()[0].instance_tag, "i2v-1");
  EXPECT_EQ(fake.spawned().size(), 2u);
}

}  // namespace
}  // namespace vg
