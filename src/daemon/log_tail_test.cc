#include "daemon/log_tail.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "util/pattern.h"

namespace vg {
namespace {

namespace fs = std::filesystem;

struct TempLog {
  fs::path dir = fs::temp_directory_path() / ("vg-logtail-" + std::to_string(getpid()));
  TempLog() { fs::create_directories(dir); }
  ~TempLog() { fs::remove_all(dir); }
  std::string path() const { return (dir / "svc.log").string(); }
  void Append(const std::string& s) const { std::ofstream(path(), std::ios::app) << s; }
};

TEST(DaemonLogTail, ReadsAppendedLinesAcrossPartialWrites) {
  TempLog t;
  LogTail tail(t.path(), Bytes::MiB(1), 2);
  std::vector<std::string> seen;
  tail.AddListener([&](const std::string& l) { seen.push_back(l); });
  t.Append("Loading model\nRunning on loc");
  EXPECT_EQ(tail.Poll(), std::vector<std::string>{"Loading model"});
  t.Append("al URL:  http://127.0.0.1:7860\n");
  EXPECT_EQ(tail.Poll(), std::vector<std::string>{"Running on local URL:  http://127.0.0.1:7860"});
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(tail.Last(1), std::vector<std::string>{"Running on local URL:  http://127.0.0.1:7860"});
}

TEST(DaemonLogTail, SkipToEndIgnoresHistory) {
  TempLog t;
  t.Append("old line\n");
  LogTail tail(t.path(), Bytes::MiB(1), 2);
  tail.SkipToEnd();
  t.Append("new line\n");
  EXPECT_EQ(tail.Poll(), std::vector<std::string>{"new line"});
}

TEST(DaemonLogTail, RotatesByCopyThenTruncate) {
  TempLog t;
  LogTail tail(t.path(), Bytes(64), 2);
  for (int round = 0; round < 3; ++round) {
    t.Append(std::string(80, 'a' + round) + "\n");
    ASSERT_EQ(tail.Poll().size(), 1u);
  }
  EXPECT_EQ(fs::file_size(t.path()), 0u);  // truncated in place: writers keep their descriptor
  ASSERT_TRUE(fs::exists(t.path() + ".1"));
  ASSERT_TRUE(fs::exists(t.path() + ".2"));
  EXPECT_FALSE(fs::exists(t.path() + ".3"));  // keep = 2
  std::ifstream newest(t.path() + ".1");
  std::string line;
  std::getline(newest, line);
  EXPECT_EQ(line, std::string(80, 'c'));
  t.Append("after rotation\n");
  EXPECT_EQ(tail.Poll(), std::vector<std::string>{"after rotation"});
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// Issue 10: with max_size = 1MiB a fast writer's log grew to 16 MB before rotation (Poll read
// everything first and rotated once at the end, copying the whole file into .1).
TEST(DaemonLogTail, FastWriterRotatedLogsStayNearMaxSize) {
  TempLog t;
  const Bytes max = Bytes::MiB(1);
  LogTail tail(t.path(), max, 3);
  std::size_t seen = 0;
  tail.AddListener([&](const std::string&) { ++seen; });
  std::string line(99, 'x');
  line += '\n';
  std::string burst;
  for (int i = 0; i < 16 * 1024 * 1024 / 100; ++i) burst += line;  // 16 MB between two polls
  t.Append(burst);
  tail.Poll();
  EXPECT_EQ(seen, burst.size() / 100);  // every line still reaches the listeners
  for (int i = 1; i <= 3; ++i) {
    const std::string rotated = t.path() + "." + std::to_string(i);
    ASSERT_TRUE(fs::exists(rotated)) << rotated;
    EXPECT_LE(fs::file_size(rotated), max.count() + 100) << rotated;  // ends at a line end
  }
  EXPECT_FALSE(fs::exists(t.path() + ".4"));
  EXPECT_LE(fs::file_size(t.path()), max.count());
}

// Lines handed to listeners are cut at kMaxMatchLineBytes: matching never sees more.
TEST(DaemonLogTail, LinesHandedToListenersAreBounded) {
  TempLog t;
  LogTail tail(t.path(), Bytes::MiB(1), 1);
  std::size_t longest = 0;
  tail.AddListener([&](const std::string& l) { longest = std::max(longest, l.size()); });
  t.Append(std::string(40 * 1024, 'y') + " ready\nnext\n");
  ASSERT_EQ(tail.Poll().size(), 2u);
  EXPECT_LE(longest, kMaxMatchLineBytes);
}

}  // namespace
}  // namespace vg
