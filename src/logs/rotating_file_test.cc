#include "logs/rotating_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vg {
namespace {

namespace fs = std::filesystem;

class LogRotatingFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vg-rotate-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name = "svc.log") const { return (dir_ / name).string(); }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(LogRotatingFileTest, AppendsWithoutRotatingBelowTheLimit) {
  auto f = RotatingFile::Open(Path(), Bytes(100), 3);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_TRUE(f->Append("hello\n"));
  ASSERT_TRUE(f->Append("world\n"));
  EXPECT_EQ(Read(Path()), "hello\nworld\n");
  EXPECT_EQ(f->size(), Bytes(12));
  EXPECT_EQ(Files(), std::vector<std::string>{"svc.log"});
  struct stat st;
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(LogRotatingFileTest, RotatesNamesAndDropsTheOldest) {
  auto f = RotatingFile::Open(Path(), Bytes(10), 2);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Append("aaaaaaaa\n"));  // 9 bytes
  ASSERT_TRUE(f->Append("bbbbbbbb\n"));  // would make 18: rotate first
  EXPECT_EQ(Read(Path()), "bbbbbbbb\n");
  EXPECT_EQ(Read(Path("svc.log.1")), "aaaaaaaa\n");
  ASSERT_TRUE(f->Append("cccccccc\n"));
  ASSERT_TRUE(f->Append("dddddddd\n"));
  EXPECT_EQ(Files(), (std::vector<std::string>{"svc.log", "svc.log.1", "svc.log.2"}));
  EXPECT_EQ(Read(Path()), "dddddddd\n");
  EXPECT_EQ(Read(Path("svc.log.1")), "cccccccc\n");
  EXPECT_EQ(Read(Path("svc.log.2")), "bbbbbbbb\n");  // "aaa…" dropped
}

TEST_F(LogRotatingFileTest, NoFileExceedsTheLimitEvenForOneBigWrite) {
  auto f = RotatingFile::Open(Path(), Bytes(4), 5);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Append("0123456789"));
  EXPECT_EQ(Read(Path()), "89");
  EXPECT_EQ(Read(Path("svc.log.1")), "4567");
  EXPECT_EQ(Read(Path("svc.log.2")), "0123");
  for (const std::string& name : Files()) EXPECT_LE(fs::file_size(dir_ / name), 4u) << name;
}

TEST_F(LogRotatingFileTest, ExactFitDoesNotRotate) {
  auto f = RotatingFile::Open(Path(), Bytes(6), 1);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Append("abc"));
  ASSERT_TRUE(f->Append("def"));
  EXPECT_EQ(Files(), std::vector<std::string>{"svc.log"});
  ASSERT_TRUE(f->Append("g"));
  EXPECT_EQ(Read(Path()), "g");
  EXPECT_EQ(Read(Path("svc.log.1")), "abcdef");
}

TEST_F(LogRotatingFileTest, KeepZeroStartsOver) {
  auto f = RotatingFile::Open(Path(), Bytes(5), 0);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Append("1234"));
  ASSERT_TRUE(f->Append("56"));
  EXPECT_EQ(Files(), std::vector<std::string>{"svc.log"});
  EXPECT_EQ(Read(Path()), "56");
}

TEST_F(LogRotatingFileTest, ReopeningAppendsAndCountsTheExistingSize) {
  {
    auto f = RotatingFile::Open(Path(), Bytes(10), 1);
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->Append("12345678"));
  }
  auto f = RotatingFile::Open(Path(), Bytes(10), 1);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), Bytes(8));
  ASSERT_TRUE(f->Append("abc"));
  EXPECT_EQ(Read(Path("svc.log.1")), "12345678");
  EXPECT_EQ(Read(Path()), "abc");
}

TEST_F(LogRotatingFileTest, BadArgumentsAndMissingDirectory) {
  EXPECT_EQ(RotatingFile::Open(Path(), Bytes(0), 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(RotatingFile::Open(Path(), Bytes(1), -1).error().code, ErrorCode::kInvalidArgument);
  auto missing = RotatingFile::Open(Path("no/such/dir.log"), Bytes(1), 1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("dir.log"), std::string::npos);
}

}  // namespace
}  // namespace vg
