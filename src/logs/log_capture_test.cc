#include "logs/log_capture.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vg {
namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

class LogCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vg-capture-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  LogCapture Open(LogCapture::Options o = {}) {
    if (o.path.empty()) o.path = (dir_ / "svc.log").string();
    auto c = LogCapture::Open(std::move(o));
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }
  std::string Read(const std::string& name = "svc.log") const {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
};

TEST_F(LogCaptureTest, RawBytesToTheFileLinesPerStream) {
  LogCapture c = Open();
  std::vector<std::pair<std::string, std::string>> seen;
  c.AddListener([&](std::string_view stream, const std::string& line) {
    seen.emplace_back(std::string(stream), line);
  });
  c.OnOutput("stdout", "loading mod");
  c.OnOutput("stderr", "warn: sl");
  c.OnOutput("stdout", "el\r\nready\n");
  c.OnOutput("stderr", "ow\n");
  EXPECT_EQ(Read(), "loading modwarn: slel\r\nready\now\n");  // as written, no prefixes
  const std::vector<std::pair<std::string, std::string>> want = {
      {"stdout", "loading model"}, {"stdout", "ready"}, {"stderr", "warn: slow"}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(c.Last(10), (Lines{"loading model", "ready", "warn: slow"}));
  EXPECT_EQ(c.total_lines(), 3u);
}

TEST_F(LogCaptureTest, OnEndFlushesPartialLines) {
  LogCapture c = Open();
  Lines seen;
  c.AddListener([&](std::string_view, const std::string& line) { seen.push_back(line); });
  c.OnOutput("stdout", "Traceback (most recent call last):\nCUDA out of memory");
  c.OnOutput("stderr", "Killed");
  EXPECT_EQ(seen, Lines{"Traceback (most recent call last):"});
  c.OnEnd();
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(c.Last(2).size(), 2u);
  c.OnEnd();  // nothing left
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(LogCaptureTest, RingCapacityBoundsLast) {
  LogCapture::Options o;
  o.ring = 2;
  LogCapture c = Open(o);
  c.OnOutput("stdout", "a\nb\nc\n");
  EXPECT_EQ(c.Last(5), (Lines{"b", "c"}));
  EXPECT_EQ(c.total_lines(), 3u);
}

TEST_F(LogCaptureTest, RemovedListenerIsNotCalled) {
  LogCapture c = Open();
  int calls = 0;
  const int id = c.AddListener([&](std::string_view, const std::string&) { ++calls; });
  c.OnOutput("stdout", "one\n");
  c.RemoveListener(id);
  c.OnOutput("stdout", "two\n");
  EXPECT_EQ(calls, 1);
  c.RemoveListener(id);  // twice is harmless
  c.RemoveListener(12345);
}

TEST_F(LogCaptureTest, ListenerRemovesItselfAndAnotherDuringDispatch) {
  LogCapture c = Open();
  Lines first, second, third;
  int first_id = 0, third_id = 0;
  first_id = c.AddListener([&](std::string_view, const std::string& line) {
    first.push_back(line);
    c.RemoveListener(first_id);  // one-shot, like a readiness matcher
    c.RemoveListener(third_id);  // not yet called for this line: must not be
  });
  c.AddListener([&](std::string_view, const std::string& line) { second.push_back(line); });
  third_id =
      c.AddListener([&](std::string_view, const std::string& line) { third.push_back(line); });
  c.OnOutput("stdout", "x\ny\n");
  EXPECT_EQ(first, Lines{"x"});
  EXPECT_EQ(second, (Lines{"x", "y"}));
  EXPECT_EQ(third, Lines{});
}

TEST_F(LogCaptureTest, ListenerAddedDuringDispatchStartsWithTheNextLine) {
  LogCapture c = Open();
  Lines late;
  bool added = false;
  c.AddListener([&](std::string_view, const std::string&) {
    if (added) return;
    added = true;
    c.AddListener([&](std::string_view, const std::string& line) { late.push_back(line); });
  });
  c.OnOutput("stdout", "first\nsecond\n");
  EXPECT_EQ(late, Lines{"second"});
}

TEST_F(LogCaptureTest, RotatesTheFile) {
  LogCapture::Options o;
  o.max_size = Bytes(8);
  o.keep = 1;
  LogCapture c = Open(o);
  c.OnOutput("stdout", "1234567\n");
  c.OnOutput("stdout", "abc\n");
  EXPECT_EQ(Read(), "abc\n");
  EXPECT_EQ(Read("svc.log.1"), "1234567\n");
  EXPECT_FALSE(c.file_error());
}

TEST_F(LogCaptureTest, OpenFailsForAMissingDirectory) {
  LogCapture::Options o;
  o.path = (dir_ / "missing" / "svc.log").string();
  auto c = LogCapture::Open(o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vg
