#include "proc/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vg {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch cgroup v2 directory for one test, under this process's own group; empty with
// `reason` set where cgroup v2 is not writable here.
struct ScratchCgroup {
  std::string dir;
  std::string reason;

  ScratchCgroup() {
    auto mount = FindCgroup2Mount();
    if (!mount) {
      reason = mount.error().message;
      return;
    }
    const std::optional<std::string> own = ParseCgroup2Path(ReadText("/proc/self/cgroup"));
    if (!own) {
      reason = "this process is in no cgroup v2 group";
      return;
    }
    static int counter = 0;
    const std::string parent = *mount + (*own == "/" ? "" : *own);
    std::string path =
        parent + "/vg-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    if (::mkdir(path.c_str(), 0755) != 0) {
      reason = "cgroup v2 is not writable here: mkdir " + path + ": " + std::strerror(errno);
      return;
    }
    dir = std::move(path);
  }
  ~ScratchCgroup() {
    if (dir.empty()) return;
    // Whatever a failed test left: kill, then remove groups deepest first.
    std::vector<fs::path> groups;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_directory()) groups.push_back(e.path());
    }
    std::sort(groups.rbegin(), groups.rend());
    groups.push_back(dir);
    for (const fs::path& g : groups) {
      std::ofstream(g / "cgroup.kill") << "1";
      ::rmdir(g.c_str());
    }
  }
};

// Children forked by a test, killed and reaped whatever happens.
class Kids {
 public:
  ~Kids() {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // A child that waits to be killed.
  pid_t Fork() {
    const pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) ::pause();
    }
    if (pid > 0) pids_.push_back(pid);
    return pid;
  }
  // Reaps pid; returns its wait status.
  int Reap(pid_t pid) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    std::erase(pids_, pid);
    return status;
  }

 private:
  std::vector<pid_t> pids_;
};

void MoveInto(const std::string& group, pid_t pid) {
  std::ofstream procs(group + "/cgroup.procs");
  procs << pid;
  procs.flush();
  ASSERT_TRUE(procs.good()) << "cannot move " << pid << " into " << group;
}

#define VG_NEED_CGROUP(scratch) \
  if ((scratch).dir.empty()) GTEST_SKIP() << (scratch).reason

TEST(CgroupTest, ParsesTheV2Line) {
  EXPECT_EQ(ParseCgroup2Path("0::/system.slice/vramguard.service\n"),
            "/system.slice/vramguard.service");
  EXPECT_EQ(ParseCgroup2Path("9:name=systemd:/\n4:memory:/x\n0::/\n"), "/");
  EXPECT_EQ(ParseCgroup2Path("4:memory:/x\n1:cpu:/\n"), std::nullopt);
  EXPECT_EQ(ParseCgroup2Path(""), std::nullopt);
}

TEST(CgroupTest, NotMountedIsNotFoundWithTheReason) {
  const fs::path tmp = fs::temp_directory_path();
  auto mount = FindCgroup2Mount(tmp.string());
  ASSERT_FALSE(mount);
  EXPECT_EQ(mount.error().code, ErrorCode::kNotFound);
  EXPECT_NE(mount.error().message.find("not mounted"), std::string::npos);
  auto detect = CgroupManager::Detect(tmp.string());
  ASSERT_FALSE(detect);
  EXPECT_EQ(detect.error().code, ErrorCode::kNotFound);
  auto base = CgroupManager::AtBase(tmp.string());
  ASSERT_FALSE(base);
  EXPECT_EQ(base.error().code, ErrorCode::kNotFound);
}

TEST(CgroupTest, DetectHereAgreesWithOurOwnCgroup) {
  auto mount = FindCgroup2Mount();
  if (!mount) GTEST_SKIP() << mount.error().message;
  const std::optional<std::string> own = ParseCgroup2Path(ReadText("/proc/self/cgroup"));
  ASSERT_TRUE(own);
  auto detect = CgroupManager::Detect();
  if (*own == "/") {
    ASSERT_FALSE(detect) << "must not create service groups at the hierarchy's root";
    EXPECT_EQ(detect.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(detect.error().message.find("root"), std::string::npos);
    EXPECT_FALSE(detect.error().hint.empty());
  } else if (detect) {
    EXPECT_EQ(detect->base(), *mount + *own);
  } else {
    EXPECT_EQ(detect.error().code, ErrorCode::kPermissionDenied) << detect.error().message;
  }
}

TEST(CgroupTest, CreateIsIdempotentAndValidatesNames) {
  ScratchCgroup scratch;
  VG_NEED_CGROUP(scratch);
  auto cg = CgroupManager::AtBase(scratch.dir + "/");
  ASSERT_TRUE(cg) << cg.error().message;
  EXPECT_EQ(cg->base(), scratch.dir);
  auto a = cg->Create("i2v");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(*a, scratch.dir + "/vramguard-i2v");
  EXPECT_TRUE(fs::exists(*a + "/cgroup.procs"));
  auto again = cg->Create("i2v");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *a);
  for (const char* bad : {"", ".", "..", "a/b"}) {
    auto r = cg->Create(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  // No controller was enabled anywhere on the way.
  const std::string controllers = ReadText(scratch.dir + "/cgroup.subtree_control");
  EXPECT_EQ(controllers.find_first_not_of(" \n"), std::string::npos) << controllers;
}

TEST(CgroupTest, MembersRecursiveKillAllAndRemove) {
  ScratchCgroup scratch;
  VG_NEED_CGROUP(scratch);
  auto cg = CgroupManager::AtBase(scratch.dir);
  ASSERT_TRUE(cg);
  auto group = cg->Create("svc");
  ASSERT_TRUE(group);
  const std::string nested = *group + "/worker";
  ASSERT_EQ(::mkdir(nested.c_str(), 0755), 0);

  Kids kids;
  const pid_t a = kids.Fork();
  const pid_t b = kids.Fork();
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  MoveInto(*group, a);
  MoveInto(nested, b);

  auto members = cg->Members(*group);
  ASSERT_TRUE(members) << members.error().message;
  EXPECT_EQ(*members, (std::vector<pid_t>{std::min(a, b), std::max(a, b)}));

  auto busy = cg->Remove(*group);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kRefused);

  ASSERT_TRUE(cg->KillAll(*group));
  for (pid_t pid : {a, b}) {
    const int status = kids.Reap(pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
  }
  members = cg->Members(*group);
  ASSERT_TRUE(members);
  EXPECT_TRUE(members->empty());

  ASSERT_TRUE(cg->Remove(*group));
  EXPECT_FALSE(fs::exists(*group));
  EXPECT_TRUE(cg->Remove(*group)) << "removing a missing group is success";
  EXPECT_TRUE(cg->KillAll(*group)) << "killing a missing group is success";
  auto gone = cg->Members(*group);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vg
