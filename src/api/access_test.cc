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

// The status CheckTcpAccess answers, 0 when it lets the request through.
int Access(RequestHead head, TcpAccessPolicy policy) {
  if (head.host.empty()) head.host = "127.0.0.1:7861";
  std::optional<AccessRefusal> refused = CheckTcpAccess(head, policy);
  return refused ? refused->status : 0;
}

TEST(ApiAccess, TheDashboardsFilesNeedNoTokenButTheApiDoes) {
  const TcpAccessPolicy token{.token = "s3cret"};
  EXPECT_EQ(Access({.method = "GET", .path = "/"}, token), 0);
  EXPECT_EQ(Access({.method = "GET", .path = "/assets/app.js"}, token), 0);
  EXPECT_EQ(Access({.method = "HEAD", .path = "/assets/style.css"}, token), 0);
  EXPECT_EQ(Access({.method = "GET", .path = "/assets/"}, token), 401);
  EXPECT_EQ(Access({.method = "GET", .path = "/v1/status"}, token), 401);
  EXPECT_EQ(Access({.method = "POST", .path = "/"}, token), 401);
  EXPECT_EQ(
      Access({.method = "GET", .path = "/v1/status", .authorization = "Bearer s3cret"}, token), 0);
  // A token that is sent is checked, even where none is needed.
  std::optional<AccessRefusal> wrong = CheckTcpAccess(
      {.method = "GET", .path = "/", .host = "localhost", .authorization = "Bearer nope"}, token);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->error, "wrong API token");
}

TEST(ApiAccess, PublicReadOpensGetAndHeadButNeverAChange) {
  const TcpAccessPolicy open{.token = "s3cret", .public_read = true};
  EXPECT_EQ(Access({.method = "GET", .path = "/v1/status"}, open), 0);
  EXPECT_EQ(Access({.method = "HEAD", .path = "/v1/jobs"}, open), 0);
  for (const char* method : {"POST", "DELETE", "PUT", "PATCH", "OPTIONS"}) {
    EXPECT_EQ(Access({.method = method, .path = "/v1/services/a/restart"}, open), 401) << method;
    EXPECT_EQ(
        Access(
            {.method = method, .path = "/v1/services/a/restart", .authorization = "Bearer s3cret"},
            open),
        0)
        << method;
  }
  std::optional<AccessRefusal> refused =
      CheckTcpAccess({.method = "POST", .path = "/v1/reload", .host = "localhost"}, open);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->error, "missing API token");
  EXPECT_NE(refused->hint.find("Authorization: Bearer"), std::string::npos);
}

TEST(ApiAccess, CrossSiteChangesAreRefusedWithOrWithoutAToken) {
  for (const TcpAccessPolicy& policy :
       {TcpAccessPolicy{}, TcpAccessPolicy{.token = "s3cret", .public_read = true}}) {
    const std::string_view auth = policy.token.empty() ? "" : "Bearer s3cret";
    auto post = [&](std::string_view host, std::string_view origin, std::string_view site) {
      return Access({.method = "POST",
                     .path = "/v1/services/a/stop",
                     .host = host,
                     .origin = origin,
                     .sec_fetch_site = site,
                     .authorization = auth},
                    policy);
    };
    EXPECT_EQ(post("127.0.0.1:7861", "http://evil.example", ""), 403);
    EXPECT_EQ(post("127.0.0.1:7861", "http://127.0.0.1:8080", ""), 403);  // another port
    EXPECT_EQ(post("127.0.0.1:7861", "null", ""), 403);  // a sandboxed frame, a data: URL
    EXPECT_EQ(post("127.0.0.1:7861", "", "cross-site"), 403);
    EXPECT_EQ(post("127.0.0.1:7861", "", "Cross-Site"), 403);
    // The page itself, and clients that send no Origin (curl, the CLI).
    EXPECT_EQ(post("127.0.0.1:7861", "http://127.0.0.1:7861", "same-origin"), 0);
    EXPECT_EQ(post("LOCALHOST:7861", "http://localhost:7861", ""), 0);
    EXPECT_EQ(post("127.0.0.1:7861", "https://127.0.0.1:7861", ""), 0);  // behind a TLS proxy
    EXPECT_EQ(post("127.0.0.1:7861", "", ""), 0);
    EXPECT_EQ(post("127.0.0.1:7861", "", "none"), 0);  // typed into the address bar
    // Reads change nothing: an Origin does not matter to them.
    EXPECT_EQ(Access({.method = "GET",
                      .path = "/v1/status",
                      .origin = "http://evil.example",
                      .sec_fetch_site = "cross-site",
                      .authorization = auth},
                     policy),
              0);
  }
  std::optional<AccessRefusal> refused = CheckTcpAccess(
      {.method = "POST", .path = "/v1/reload", .host = "localhost:1", .origin = "http://e.example"},
      {});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->error,
            "cross-origin request refused: Origin http://e.example is not this server (Host "
            "localhost:1)");
}

TEST(ApiAccess, WithoutATokenOnLoopbackTheHostMustBeLoopback) {
  // No token at all, and a public read with a token: both pass without one, so DNS rebinding
  // (a page on evil.example resolved to 127.0.0.1) must not reach them.
  for (const TcpAccessPolicy& policy :
       {TcpAccessPolicy{}, TcpAccessPolicy{.token = "s3cret", .public_read = true}}) {
    EXPECT_EQ(Access({.method = "GET", .path = "/v1/status", .host = "evil.example:7861"}, policy),
              403);
    EXPECT_EQ(Access({.method = "GET", .path = "/", .host = "evil.example:7861"}, policy), 403);
    EXPECT_EQ(Access({.method = "GET", .path = "/v1/status", .host = "localhost:7861"}, policy), 0);
  }
  // With the token sent, or on a listener off loopback (reached by name), any Host.
  EXPECT_EQ(Access({.method = "GET",
                    .path = "/v1/status",
                    .host = "gpu-box.lan:7861",
                    .authorization = "Bearer s3cret"},
                   {.token = "s3cret"}),
            0);
  EXPECT_EQ(Access({.method = "GET", .path = "/v1/status", .host = "gpu-box.lan:7861"},
                   {.token = "s3cret", .public_read = true, .loopback_listener = false}),
            0);
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
