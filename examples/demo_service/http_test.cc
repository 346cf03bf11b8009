#include "http.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace vg::demo {
namespace {

using std::chrono::steady_clock;

// A connected socket pair: the server's end and the client's end, closed on destruction.
class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  ~SocketPair() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  int server() const { return fds_[0]; }
  void Send(std::string_view data) {
    ASSERT_EQ(::send(fds_[1], data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  void CloseClient() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  std::string ReceiveAll() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fds_[1], buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
};

steady_clock::time_point Soon() { return steady_clock::now() + std::chrono::seconds(5); }

TEST(DemoHttpTest, ParsesARequestHead) {
  auto request = ParseHead(
      "POST /generate?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type:  application/json \r\n"
      "Content-Length: 12\r\n\r\n",
      HttpLimits{});
  ASSERT_TRUE(request.has_value()) << request.error().message;
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->target, "/generate?x=1");
  EXPECT_EQ(request->Path(), "/generate");
  EXPECT_EQ(request->Header("content-type"), "application/json");
  EXPECT_EQ(request->content_length, 12u);
}

TEST(DemoHttpTest, RefusesMalformedHeads) {
  struct Case {
    const char* head;
    int status;
  };
  const Case cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET\r\n\r\n", 400},
      {"GET health HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.head);
    auto request = ParseHead(c.head, HttpLimits{});
    ASSERT_FALSE(request.has_value());
    EXPECT_EQ(request.error().status, c.status);
  }
}

TEST(DemoHttpTest, ReadsARequestWhoseBodyArrivesLater) {
  SocketPair pair;
  pair.Send("POST /generate HTTP/1.1\r\nContent-Length: 13\r\n\r\n{\"frames\"");
  std::thread late([&] { pair.Send(":24}   extra"); });
  auto request = ReadRequest(pair.server(), HttpLimits{}, Soon());
  late.join();
  ASSERT_TRUE(request.has_value()) << request.error().message;
  EXPECT_EQ(request->body, "{\"frames\":24}");  // what follows the body is not read as it
}

// POST /upload: a body far over max_body, counted and checksummed as it arrives, never kept;
// over max_upload it is refused before it is read.
TEST(DemoHttpTest, AnUploadIsCountedAndChecksummedNotKept) {
  SocketPair pair;
  HttpLimits limits;
  limits.max_upload = 1 << 20;
  std::string data(300 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) % 251);
  pair.Send("POST /upload HTTP/1.1\r\nContent-Length: " + std::to_string(data.size()) + "\r\n\r\n" +
            data.substr(0, 1000));
  std::thread late([&] { pair.Send(data.substr(1000)); });
  auto request = ReadRequest(pair.server(), limits, Soon());
  late.join();
  ASSERT_TRUE(request.has_value()) << request.error().message;
  ASSERT_TRUE(request->upload.has_value());
  EXPECT_TRUE(request->body.empty());
  EXPECT_EQ(request->upload->bytes, data.size());
  UploadDigest whole;
  whole.Add(data);
  EXPECT_EQ(request->upload->adler32, whole.adler32);
  UploadDigest known;  // zlib: adler32(b"Wikipedia") == 0x11E60398
  known.Add("Wikipedia");
  EXPECT_EQ(known.adler32, 0x11E60398u);
  auto big = ParseHead("POST /upload HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", limits);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().status, 413);
  auto elsewhere = ParseHead("POST /generate HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", limits);
  ASSERT_FALSE(elsewhere.has_value());
  EXPECT_EQ(elsewhere.error().status, 413);
}

TEST(DemoHttpTest, RefusesAnOversizedHeadWithoutReadingItAll) {
  SocketPair pair;
  HttpLimits limits;
  limits.max_head = 256;
  pair.Send("GET / HTTP/1.1\r\nX-Pad: " + std::string(1000, 'a'));
  auto request = ReadRequest(pair.server(), limits, Soon());
  ASSERT_FALSE(request.has_value());
  EXPECT_EQ(request.error().status, 431);
}

TEST(DemoHttpTest, RefusesAnOversizedBodyBeforeReadingIt) {
  SocketPair pair;
  pair.Send("POST /generate HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n");
  auto request = ReadRequest(pair.server(), HttpLimits{}, Soon());
  ASSERT_FALSE(request.has_value());
  EXPECT_EQ(request.error().status, 413);
}

TEST(DemoHttpTest, ASilentClientTimesOut) {
  SocketPair pair;
  pair.Send("GET / HTTP/1.1\r\n");
  auto start = steady_clock::now();
  auto request = ReadRequest(pair.server(), HttpLimits{}, start + std::chrono::milliseconds(30));
  ASSERT_FALSE(request.has_value());
  EXPECT_EQ(request.error().status, 408);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(DemoHttpTest, AClientThatLeavesGetsNoAnswer) {
  SocketPair pair;
  pair.Send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{");
  pair.CloseClient();
  auto request = ReadRequest(pair.server(), HttpLimits{}, Soon());
  ASSERT_FALSE(request.has_value());
  EXPECT_EQ(request.error().status, 0);
}

TEST(DemoHttpTest, WritesACompleteResponse) {
  SocketPair pair;
  HttpResponse response{405, "{\"error\":\"use POST\"}\n"};
  response.headers.emplace_back("Allow", "POST");
  WriteResponse(pair.server(), response, Soon());
  ::shutdown(pair.server(), SHUT_WR);
  EXPECT_EQ(pair.ReceiveAll(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
            "Content-Length: 21\r\nAllow: POST\r\nConnection: close\r\n\r\n"
            "{\"error\":\"use POST\"}\n");
}

}  // namespace
}  // namespace vg::demo
