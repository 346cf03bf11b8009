#include "api/access.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(ApiAccess, ParseHostPort) {
  auto v4 = ParseHostPort("127.0.0.1:7861");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 7861);
  auto v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(ParseHostPort("LocalHost:80")->host, "127.0.0.1");
  for (const char* bad : {"127.0.0.1", ":7861", "127.0.0.1:", "127.0.0.1:65536", "[::1]7861",
                          "127.0.0.1:-1", "127.0.0.1:80x", "[::1"}) {
    EXPECT_FALSE(ParseHostPort(bad)) << bad;
  }
}

TEST(ApiAccess, LoopbackHostHeaders) {
  for (const char* ok :
       {"localhost", "LOCALHOST:7861", "127.0.0.1", "127.1.2.3:80", "[::1]", "[::1]:7861"}) {
    EXPECT_TRUE(IsLoopbackHost(ok)) << ok;
  }
  for (const char* bad : {"evil.example", "evil.example:7861", "10.0.0.1:7861", "0.0.0.0",
                          "[::2]:80", "localhost.evil.example", "", "[::1"}) {
    EXPECT_FALSE(IsLoopbackHost(bad)) << bad;
  }
}

TEST(ApiAccess, BearerToken) {
  EXPECT_TRUE(BearerMatches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(BearerMatches("bearer s3cret", "s3cret"));
  EXPECT_FALSE(BearerMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(BearerMatches("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(BearerMatches("Bearer S3cret", "s3cret"));
  EXPECT_FALSE(BearerMatches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(BearerMatches("s3cret", "s3cret"));
  EXPECT_FALSE(BearerMatches("", "s3cret"));
  EXPECT_FALSE(BearerMatches("Bearer ", ""));  // an empty token never authorises
}

class ApiSocketPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "vg-access-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A bound Unix socket at `path`; listening if `listen`, else closed again (stale).
  int Bind(const std::string& path, bool listen) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    if (listen) {
      EXPECT_EQ(::listen(fd, 1), 0);
      return fd;
    }
    ::close(fd);
    return -1;
  }

  std::string dir_;
};

TEST_F(ApiSocketPathTest, CreatesMissingParentsPrivate) {
  std::string path = dir_ + "/a/b/vramguard.sock";
  ASSERT_TRUE(PrepareUnixSocketPath(path));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ApiSocketPathTest, StaleSocketIsAccepted) {
  std::string path = dir_ + "/vramguard.sock";
  Bind(path, false);
  EXPECT_TRUE(PrepareUnixSocketPath(path));
}

TEST_F(ApiSocketPathTest, LiveSocketIsRefused) {
  std::string path = dir_ + "/vramguard.sock";
  int fd = Bind(path, true);
  auto ready = PrepareUnixSocketPath(path);
  ::close(fd);
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code, ErrorCode::kRefused);
  EXPECT_EQ(ready.error().message, "another vramguard daemon is listening on " + path);
}

TEST_F(ApiSocketPathTest, OtherFileIsRefusedAndKept) {
  std::string path = dir_ + "/vramguard.sock";
  std::ofstream(path) << "not a socket";
  auto ready = PrepareUnixSocketPath(path);
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code, ErrorCode::kRefused);
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
}

}  // namespace
}  // namespace vg
