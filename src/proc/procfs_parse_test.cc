#include "proc/procfs_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "proc/process.h"

namespace vg::procfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A real /proc/<pid>/stat line (python3 worker), 52 fields.
constexpr std::string_view kStatPython =
    "4242 (python3) S 4200 4242 4100 34816 4242 4194560 31544 0 12 0 215 38 0 0 20 0 9 0 "
    "123456789 4186300416 78001 18446744073709551615 94523 94600 140722 0 0 0 0 16781312 "
    "134235650 0 0 0 17 3 0 0 0 0 0 94700 94800 95000 140723 140724 140724 140725 0\n";

TEST(ProcParseStatTest, ParsesTheFieldsVramguardUses) {
  const std::optional<StatFields> stat = ParseStat(kStatPython);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->pid, 4242);
  EXPECT_EQ(stat->comm, "python3");
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 4200);
  EXPECT_EQ(stat->pgrp, 4242);
  EXPECT_EQ(stat->session, 4100);
  EXPECT_EQ(stat->flags, 4194560u);
  EXPECT_FALSE(stat->IsKernelThread());
  EXPECT_EQ(stat->start_time, 123456789u);
}

TEST(ProcParseStatTest, CommMayHoldSpacesAndParentheses) {
  const std::optional<StatFields> stat =
      ParseStat("77 (a) (b c) ) Z 1 77 77 0 -1 4194316 0 0 0 0 0 0 0 0 20 0 1 0 999 0 0\n");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->comm, "a) (b c) ");
  EXPECT_EQ(stat->state, 'Z');
  EXPECT_EQ(stat->ppid, 1);
  EXPECT_EQ(stat->start_time, 999u);
}

TEST(ProcParseStatTest, KernelThreadWithSlashInComm) {
  const std::optional<StatFields> stat = ParseStat(
      "15 (kworker/0:1H-kblockd) I 2 0 0 0 -1 69238880 0 0 0 0 0 4 0 0 0 -20 1 0 12 0 0 "
      "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->comm, "kworker/0:1H-kblockd");
  EXPECT_EQ(stat->state, 'I');
  EXPECT_EQ(stat->ppid, 2);
  EXPECT_EQ(stat->start_time, 12u);
  EXPECT_EQ(stat->flags, 69238880u);  // 0x4208060: PF_KTHREAD (0x00200000) among others
  EXPECT_TRUE(stat->IsKernelThread());
}

// kthreadd itself (pid 2, ppid 0) is known by its flags alone, like every kernel thread.
TEST(ProcParseStatTest, KernelThreadFlagOnly) {
  std::optional<StatFields> stat =
      ParseStat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n");
  ASSERT_TRUE(stat.has_value());
  EXPECT_TRUE(stat->IsKernelThread());  // 0x208040
  stat = ParseStat("2 (kthreadd) S 0 0 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n");
  ASSERT_TRUE(stat.has_value());
  EXPECT_FALSE(stat->IsKernelThread());  // the name and pid do not decide it
}

TEST(ProcParseStatTest, RejectsMalformedText) {
  EXPECT_FALSE(ParseStat("").has_value());
  EXPECT_FALSE(ParseStat("12 python S 1 1 1").has_value());                // no parentheses
  EXPECT_FALSE(ParseStat("12 (python) S 1 1 1 0 0 0 0 0 0").has_value());  // too few fields
  EXPECT_FALSE(ParseStat("x (p) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").has_value());
  EXPECT_FALSE(ParseStat("1 (p) S one 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").has_value());
  EXPECT_FALSE(ParseStat("1 (p) S 0 1 1 0 -1 f 0 0 0 0 0 0 0 0 20 0 1 0 5").has_value());  // flags
  EXPECT_TRUE(ParseStat("1 (p) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").has_value());
}

constexpr std::string_view kStatus =
    "Name:\tpython3\n"
    "Umask:\t0022\n"
    "State:\tS (sleeping)\n"
    "Tgid:\t4242\n"
    "Ngid:\t0\n"
    "Pid:\t4242\n"
    "PPid:\t4200\n"
    "TracerPid:\t0\n"
    "Uid:\t1000\t1001\t1002\t1003\n"
    "Gid:\t1000\t1000\t1000\t1000\n"
    "FDSize:\t256\n"
    "Groups:\t4 24 27 1000 \n"
    "NStgid:\t4242\t17\n"
    "NSpid:\t4242\t17\n"
    "NSpgid:\t4242\t17\n"
    "NSsid:\t4100\t1\n"
    "VmPeak:\t 4086300 kB\n";

TEST(ProcParseStatusTest, RealUidAndNamespacePids) {
  const std::optional<StatusFields> status = ParseStatus(kStatus);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->uid, 1000u);
  EXPECT_THAT(status->nspid, ElementsAre(4242, 17));
}

TEST(ProcParseStatusTest, NotNestedAndOldKernels) {
  std::optional<StatusFields> status = ParseStatus("Name:\tsh\nUid:\t0\t0\t0\t0\nNSpid:\t9\n");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->uid, 0u);
  EXPECT_THAT(status->nspid, ElementsAre(9));

  status = ParseStatus("Name:\tsh\nUid:\t33\t33\t33\t33\n");  // no NSpid line (Linux < 4.1)
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->uid, 33u);
  EXPECT_THAT(status->nspid, IsEmpty());
}

TEST(ProcParseStatusTest, RejectsMissingUid) {
  EXPECT_FALSE(ParseStatus("Name:\tsh\nNSpid:\t9\n").has_value());
  EXPECT_FALSE(ParseStatus("Uid:\tabc\n").has_value());
  EXPECT_FALSE(ParseStatus("").has_value());
}

TEST(ProcParsePidListTest, SpacesNewlinesAndJunk) {
  std::vector<pid_t> out{7};
  ParsePidList("12 345 ", &out);
  ParsePidList("", &out);
  ParsePidList("9\n", &out);
  ParsePidList("0 -3 x1 40x 2147483648 88", &out);
  EXPECT_THAT(out, ElementsAre(7, 12, 345, 9, 88));
}

TEST(ProcParseCmdlineTest, SplitsOnNul) {
  using namespace std::string_view_literals;
  EXPECT_THAT(ParseCmdline("python3\0main.py\0--port\0007860\0"sv),
              ElementsAre("python3", "main.py", "--port", "7860"));
  EXPECT_THAT(ParseCmdline("a\0\0b c\0"sv), ElementsAre("a", "", "b c"));
  EXPECT_THAT(ParseCmdline("nginx: worker process"sv), ElementsAre("nginx: worker process"));
  EXPECT_THAT(ParseCmdline(""sv), IsEmpty());
}

TEST(ProcParseEnvironTest, FindsValues) {
  using namespace std::string_view_literals;
  constexpr std::string_view env =
      "PATH=/usr/bin\0VRAMGUARD_INSTANCE_X=no\0VRAMGUARD_INSTANCE=i2v@3\0EMPTY=\0"
      "VRAMGUARD_INSTANCE=second\0"sv;
  EXPECT_EQ(FindEnvValue(env, kInstanceTagVar), "i2v@3");
  EXPECT_EQ(FindEnvValue(env, "PATH"), "/usr/bin");
  EXPECT_EQ(FindEnvValue(env, "EMPTY"), "");
  EXPECT_EQ(FindEnvValue(env, "VRAMGUARD"), std::nullopt);
  EXPECT_EQ(FindEnvValue(env, "HOME"), std::nullopt);
  EXPECT_EQ(FindEnvValue("", "HOME"), std::nullopt);
  EXPECT_EQ(FindEnvValue("A=1\0B=2"sv, "B"), "2");  // truncated: no final NUL
}

TEST(ProcParseDeviceTest, GpuNodesOnly) {
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia0", "/dev"), 0u);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia7", "/dev/"), 7u);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia12", "/dev"), 12u);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia3 (deleted)", "/dev"), 3u);
  EXPECT_EQ(ParseDeviceMinor("/tmp/sim/dev/nvidia1", "/tmp/sim/dev"), 1u);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidiactl", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia-uvm", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia-uvm-tools", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia-modeset", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia-caps/nvidia-cap1", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia0x", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/nvidia99999999999", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/other/nvidia0", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/devx/nvidia0", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/dev/sub/nvidia0", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("socket:[12345]", "/dev"), std::nullopt);
  EXPECT_EQ(ParseDeviceMinor("/nvidia0", "/"), 0u);
}

TEST(ProcParseDeviceTest, CtlNode) {
  EXPECT_TRUE(IsCtlNode("/dev/nvidiactl", "/dev"));
  EXPECT_TRUE(IsCtlNode("/dev/nvidiactl (deleted)", "/dev"));
  EXPECT_TRUE(IsCtlNode("/tmp/sim/dev/nvidiactl", "/tmp/sim/dev/"));
  EXPECT_FALSE(IsCtlNode("/dev/nvidia0", "/dev"));
  EXPECT_FALSE(IsCtlNode("/dev/nvidiactl2", "/dev"));
  EXPECT_FALSE(IsCtlNode("/tmp/nvidiactl", "/dev"));
}

// Maps of a CUDA process: nvidia0 mapped twice, nvidiactl and nvidia-uvm mapped, anonymous
// mappings without a pathname, a pathname with spaces, a deleted mapping of nvidia1.
constexpr std::string_view kMapsCuda =
    "55d0c8a00000-55d0c8a2c000 r--p 00000000 08:01 1310795                    "
    "/usr/bin/python3.11\n"
    "7f1c00000000-7f1c00021000 rw-p 00000000 00:00 0 \n"
    "7f1c10000000-7f1c10200000 ---p 00000000 00:00 0\n"
    "7f1c2a000000-7f1c2a001000 rw-s 00000000 00:05 1033                       /dev/nvidiactl\n"
    "7f1c2a001000-7f1c2a002000 rw-s 00000000 00:05 1036                       /dev/nvidia0\n"
    "7f1c2a002000-7f1c2a003000 rw-s 00000000 00:05 1036                       /dev/nvidia0\n"
    "7f1c2a003000-7f1c2a004000 rw-s 00000000 00:05 1040                       /dev/nvidia-uvm\n"
    "7f1c2a004000-7f1c2a005000 rw-s 00000000 00:05 1041                       "
    "/dev/nvidia-uvm-tools\n"
    "7f1c2a005000-7f1c2a006000 rw-s 00000000 00:05 1037                       "
    "/dev/nvidia1 (deleted)\n"
    "7f1c2b000000-7f1c2b001000 r--p 00000000 08:01 99                         "
    "/home/me/my models/dev/nvidia5\n"
    "7ffd6b5f0000-7ffd6b611000 rw-p 00000000 00:00 0                          [stack]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

TEST(ProcParseMapsTest, MappedGpuMinors) {
  EXPECT_THAT(ParseMappedMinors(kMapsCuda, "/dev"), ElementsAre(0u, 1u));
  EXPECT_THAT(ParseMappedMinors(kMapsCuda, "/home/me/my models/dev"), ElementsAre(5u));
  EXPECT_THAT(ParseMappedMinors(kMapsCuda, "/tmp/sim/dev"), IsEmpty());
}

TEST(ProcParseMapsTest, MonitorMapsNoGpuNode) {
  // nvidia-smi dmon: nvidiactl and nvidia-uvm mapped, no nvidia<N>.
  constexpr std::string_view maps =
      "7f1c2a000000-7f1c2a001000 rw-s 00000000 00:05 1033   /dev/nvidiactl\n"
      "7f1c2a003000-7f1c2a004000 rw-s 00000000 00:05 1040   /dev/nvidia-uvm\n"
      "7f1c2a004000-7f1c2a005000 rw-s 00000000 00:05 1040   /dev/nvidia-caps/nvidia-cap1\n";
  EXPECT_THAT(ParseMappedMinors(maps, "/dev"), IsEmpty());
  EXPECT_THAT(ParseMappedMinors("", "/dev"), IsEmpty());
}

TEST(ProcParseMapsTest, PathMustBeThePathnameField) {
  // Only the sixth field counts, and the node must be the whole path.
  constexpr std::string_view maps =
      "7f00-7f01 rw-s 00000000 00:05 1 /srv/dev/nvidia0.bak\n"
      "7f01-7f02 rw-s 00000000 00:05 1 /srv/dev/nvidia0/x\n"
      "7f02-7f03 rw-s 00000000\n"
      "7f03-7f04 rw-s 00000000 00:05 1 /srv/dev/nvidia2\n";
  EXPECT_THAT(ParseMappedMinors(maps, "/srv/dev"), ElementsAre(2u));
}

TEST(ProcCommandLineTest, JoinsArgv) {
  ProcessInfo info;
  info.comm = "kworker/0:1";
  EXPECT_EQ(info.CommandLine(), "[kworker/0:1]");
  info.argv = {"python3", "main.py", "--port", "7860"};
  EXPECT_EQ(info.CommandLine(), "python3 main.py --port 7860");
  info.argv = {"python3", "-c", "print('a b')", ""};
  EXPECT_EQ(info.CommandLine(), "python3 -c 'print('\\''a b'\\'')' ''");
  info.argv = {"nginx: worker process"};
  EXPECT_EQ(info.CommandLine(), "nginx: worker process");
}

}  // namespace
}  // namespace vg::procfs
