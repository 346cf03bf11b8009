#include "logs/kmsg.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace vg {
namespace {

TEST(KmsgRecordTest, ParsesPrefixSeqUsecAndMessage) {
  auto r = ParseKmsgRecord(
      "4,1234,5678901,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=4242, name=python3, GPU has fallen "
      "off the bus.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->level, 4);
  EXPECT_EQ(r->facility, 0);
  EXPECT_EQ(r->seq, 1234u);
  EXPECT_EQ(r->usec, 5678901);
  EXPECT_EQ(r->message,
            "NVRM: Xid (PCI:0000:3b:00): 79, pid=4242, name=python3, GPU has fallen off the bus.");
}

TEST(KmsgRecordTest, FacilityExtraFieldsAndEscapes) {
  auto r = ParseKmsgRecord("30,7,99,c,more;a\\x09tab and a \\x5c backslash; semicolon");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->facility, 3);
  EXPECT_EQ(r->level, 6);
  EXPECT_EQ(r->message, "a\ttab and a \\ backslash; semicolon");
  // A lone backslash or a short escape stays as it is.
  EXPECT_EQ(ParseKmsgRecord("6,1,2,-;end\\x4")->message, "end\\x4");
}

TEST(KmsgRecordTest, NotARecord) {
  for (const char* s :
       {"", "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.", "6,1,2;too few fields",
        "x,1,2,-;bad prefix", "6,-1,2,-;bad seq", "[ 12.345] NVRM: something; else"}) {
    EXPECT_FALSE(ParseKmsgRecord(s)) << s;
  }
}

TEST(KmsgSplitterTest, OneReadOneRecordWithContinuationLines) {
  KmsgSplitter split;
  auto got = split.Feed("6,10,100,-;NVRM: loading\n SUBSYSTEM=pci\n DEVICE=+pci:0000:3b:00.0\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 10u);
  EXPECT_EQ(got[0].message, "NVRM: loading");
}

TEST(KmsgSplitterTest, RecordsAcrossChunksAndPlainLines) {
  KmsgSplitter split;
  EXPECT_TRUE(split.Feed("6,11,1,-;first").empty());
  auto got = split.Feed(" half\n4,12,2,-;second\r\nplain dmesg text\n\n6,13");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].message, "first half");
  EXPECT_EQ(got[1].message, "second");
  EXPECT_EQ(got[1].level, 4);
  EXPECT_EQ(got[2].message, "plain dmesg text");
  EXPECT_FALSE(got[2].seq);
  got = split.Feed(",3,-;third\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 13u);
}

TEST(KmsgSplitterTest, LongLinesAreCut) {
  KmsgSplitter split;
  std::string big(KmsgSplitter::kMaxLine * 2, 'x');
  auto got = split.Feed("6,1,1,-;" + big + "\n6,2,2,-;next\n");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message.size(), KmsgSplitter::kMaxLine - 8);
  EXPECT_EQ(got[1].message, "next");
}

class OpenKernelLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vg-kmsg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(OpenKernelLogTest, RegularFileStartsAtItsEnd) {
  std::string path = (dir_ / "kmsg").string();
  std::ofstream(path) << "6,1,1,-;old record\n";
  auto fd = OpenKernelLog(path);
  ASSERT_TRUE(fd) << fd.error().message;
  EXPECT_EQ(fd->type, KernelLogType::kFile);
  char buf[256];
  EXPECT_EQ(::read(fd->fd, buf, sizeof buf), 0) << "old records are not replayed";
  std::ofstream(path, std::ios::app) << "6,2,2,-;new record\n";
  ssize_t n = ::read(fd->fd, buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "6,2,2,-;new record\n");
  ::close(fd->fd);
}

TEST_F(OpenKernelLogTest, FifoNeverEndsBetweenWriters) {
  std::string path = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto fd = OpenKernelLog(path);
  ASSERT_TRUE(fd) << fd.error().message;
  EXPECT_EQ(fd->type, KernelLogType::kFifo);
  char buf[64];
  EXPECT_EQ(::read(fd->fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN) << "no writer yet: would block, not end-of-file";
  {
    std::ofstream w(path);
    w << "6,1,1,-;hello\n";
  }
  ssize_t n = ::read(fd->fd, buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "6,1,1,-;hello\n");
  EXPECT_EQ(::read(fd->fd, buf, sizeof buf), -1) << "the writer left: still no end-of-file";
  ::close(fd->fd);
}

TEST_F(OpenKernelLogTest, UnreadableSaysWhy) {
  auto missing = OpenKernelLog((dir_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  auto dir = OpenKernelLog(dir_.string());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// The real /dev/kmsg where this process may read it (root, or dmesg_restrict = 0): opened at its
// end, so a read finds nothing (EAGAIN) or a record newer than the open, in the record format.
TEST(OpenKernelLogDevKmsgTest, StartsAtTheEndAndReadsRecords) {
  auto fd = OpenKernelLog("/dev/kmsg");
  if (!fd) GTEST_SKIP() << "/dev/kmsg not readable here: " << fd.error().message;
  EXPECT_EQ(fd->type, KernelLogType::kDevice);
  char buf[16 * 1024];
  ssize_t n = ::read(fd->fd, buf, sizeof buf);
  if (n < 0) {
    EXPECT_TRUE(errno == EAGAIN || errno == EPIPE) << std::strerror(errno);
  } else {
    KmsgSplitter split;
    auto got = split.Feed(std::string_view(buf, n));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].seq.has_value()) << "a /dev/kmsg read is one record";
  }
  ::close(fd->fd);
}

}  // namespace
}  // namespace vg
