#include "core/membership.h"

#include <gtest/gtest.h>

#include "testing/fakes.h"

namespace vg {
namespace {

using testing::MakeProcess;

constexpr pid_t kDaemon = 50;

ProcessInfo Tagged(pid_t pid, pid_t ppid, std::string tag) {
  ProcessInfo p = MakeProcess(pid, ppid, "python3");
  p.instance_tag = std::move(tag);
  return p;
}

// The daemon (50) under init runs service "i2v-7" as 100; 100 forked a worker 101 whose child
// 102 runs a helper. Unrelated: a shell 200 with child 201, and the daemon's other service
// "comfy-3" (300).
MembershipInput MembershipWorld() {
  MembershipInput in;
  in.processes = {MakeProcess(1, 0, "init"),       MakeProcess(kDaemon, 1, "vramguard"),
                  Tagged(100, kDaemon, "i2v-7"),   Tagged(101, 100, "i2v-7"),
                  MakeProcess(102, 101, "helper"), MakeProcess(200, 1, "bash"),
                  MakeProcess(201, 200, "vim"),    Tagged(300, kDaemon, "comfy-3")};
  in.main_pid = 100;
  in.tag = "i2v-7";
  in.daemon_pid = kDaemon;
  return in;
}

TEST(MembershipTest, MainProcessAndDescendants) {
  MembershipInput in = MembershipWorld();
  in.processes[3].instance_tag.reset();  // descendants count even without the tag
  EXPECT_EQ(ServiceMembers(in), (std::vector<pid_t>{100, 101, 102}));
}

TEST(MembershipTest, SetsidChildReparentedToInitStaysWhenTagged) {
  MembershipInput in = MembershipWorld();
  ProcessInfo escaped = Tagged(150, 1, "i2v-7");
  escaped.sid = 150;
  in.processes.push_back(escaped);
  in.processes.push_back(MakeProcess(151, 150, "worker"));  // its untagged child too
  EXPECT_EQ(ServiceMembers(in), (std::vector<pid_t>{100, 101, 102, 150, 151}));
}

TEST(MembershipTest, OrphanReparentedToDaemonStaysWhenTagged) {
  MembershipInput in = MembershipWorld();
  in.main_pid = 0;  // main process exited; its worker went to the subreaper
  in.processes.erase(in.processes.begin() + 2);
  in.processes[2].ppid = kDaemon;
  EXPECT_EQ(ServiceMembers(in), (std::vector<pid_t>{101, 102}));
}

TEST(MembershipTest, OtherInstanceTagExcluded) {
  MembershipInput in = MembershipWorld();
  in.processes.push_back(Tagged(400, 1, "i2v-70"));  // a prefix is not a match
  in.processes.push_back(Tagged(401, 1, "i2v-6"));   // an earlier instance of the same service
  const std::vector<pid_t> members = ServiceMembers(in);
  EXPECT_EQ(members, (std::vector<pid_t>{100, 101, 102}));
}

TEST(MembershipTest, CgroupOnlyMemberAndItsDescendants) {
  MembershipInput in = MembershipWorld();
  in.processes.push_back(MakeProcess(500, 1, "env-cleared"));  // no tag, not in the tree
  in.processes.push_back(MakeProcess(501, 500, "child"));
  in.cgroup_members = {100, 500, 777};  // 777 started after the snapshot was taken
  EXPECT_EQ(ServiceMembers(in), (std::vector<pid_t>{100, 101, 102, 500, 501, 777}));
}

TEST(MembershipTest, ZombiesExcludedButTheirSiblingsKept) {
  MembershipInput in = MembershipWorld();
  in.processes[4].state = 'Z';  // 102
  in.processes.push_back(Tagged(160, 1, "i2v-7"));
  in.processes.back().state = 'Z';
  EXPECT_EQ(ServiceMembers(in), (std::vector<pid_t>{100, 101}));
}

TEST(MembershipTest, NeverTheDaemonOrInitEvenWhenInputsSaySo) {
  MembershipInput in = MembershipWorld();
  in.processes[0].instance_tag = "i2v-7";  // init inherited the tag somehow
  in.processes[1].instance_tag = "i2v-7";  // so did the daemon
  in.cgroup_members = {1, kDaemon, 0, -3};
  const std::vector<pid_t> members = ServiceMembers(in);
  EXPECT_EQ(members, (std::vector<pid_t>{100, 101, 102}));  // nor the daemon's other service
}

TEST(MembershipTest, MainGoneAndNoTagMeansNoMembers) {
  MembershipInput in = MembershipWorld();
  in.main_pid = 999;
  in.tag.clear();
  EXPECT_TRUE(ServiceMembers(in).empty());
}

TEST(MembershipTest, SortedUniqueWhenSeedsOverlap) {
  MembershipInput in = MembershipWorld();
  in.cgroup_members = {102, 101, 100, 101};
  EXPECT_EQ(ServiceMembers(in), (std::vector<pid_t>{100, 101, 102}));
}

}  // namespace
}  // namespace vg
