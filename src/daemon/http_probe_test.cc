#include "daemon/http_probe.h"

#include <gtest/gtest.h>

#include <optional>

namespace vg {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Accepts one connection, reads the request head, then writes `answer` and closes (an empty
// answer: closes without a word, as a service that is exiting does).
struct Server {
  explicit Server(asio::io_context& io) : acceptor(io, tcp::endpoint(tcp::v4(), 0)) {}
  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/health";
  }
  asio::awaitable<void> Serve(std::string answer) {
    tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
    std::string request;
    std::vector<char> buf(4096);
    boost::system::error_code ec;
    while (request.find("\r\n\r\n") == std::string::npos) {
      std::size_t n = co_await s.async_read_some(asio::buffer(buf),
                                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      request.append(buf.data(), n);
    }
    if (!answer.empty()) {
      co_await asio::async_write(s, asio::buffer(answer),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    s.close(ec);
  }
  tcp::acceptor acceptor;
};

HttpProbeResult Probe(std::string answer) {
  asio::io_context io;
  Server server(io);
  asio::co_spawn(io, server.Serve(std::move(answer)), asio::detached);
  std::optional<HttpProbeResult> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await HttpRequestOnce(io, "GET", server.Url(), 2000ms);
      },
      asio::detached);
  io.run_for(3s);
  EXPECT_TRUE(out.has_value());
  return out.value_or(HttpProbeResult{});
}

TEST(HttpProbe, DecodesAChunkedBody) {
  HttpProbeResult r = Probe(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n4\r\n{\"bu\r\n9\r\nsy\":true}\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"busy\":true}");
}

// Issue 10: a probe whose service closed the connection (it is being stopped) logged
// "malformed HTTP answer".
TEST(HttpProbe, AClosedConnectionIsNotAMalformedAnswer) {
  HttpProbeResult r = Probe("");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.error.find("malformed"), std::string::npos) << r.error;
}

TEST(HttpProbe, AnOverflowingChunkSizeEndsWithAnError) {
  HttpProbeResult r =
      Probe("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.closed);
  EXPECT_NE(r.error.find("malformed"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace vg
