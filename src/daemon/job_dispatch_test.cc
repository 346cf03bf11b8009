#include "daemon/job_dispatch.h"

#include <gtest/gtest.h>

#include <optional>

#include "testing/read_http_request.h"

namespace vg {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A one-connection server: reads the request head and body, remembers them, answers `answer`
// (or nothing, keeping the connection open, when `answer` is empty).
struct OneShotServer {
  explicit OneShotServer(asio::io_context& io) : acceptor(io, tcp::endpoint(tcp::v4(), 0)) {}
  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/generate";
  }
  asio::awaitable<void> Serve(std::string answer) {
    tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
    (void)co_await testing::ReadHttpRequest(s, &request);  // answered even if it ended early
    boost::system::error_code ec;
    if (answer.empty()) {
      asio::steady_timer t(s.get_executor(), 5s);
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    co_await asio::async_write(s, asio::buffer(answer),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  tcp::acceptor acceptor;
  std::string request;
};

DispatchResult Exchange(asio::io_context& io, OneShotServer& server, std::string answer,
                        std::function<void(JobDispatch&)> meanwhile = {}, Millis timeout = 2000ms,
                        std::size_t cap = 1 << 20) {
  asio::co_spawn(io, server.Serve(std::move(answer)), asio::detached);
  JobDispatch d(io);
  std::optional<DispatchResult> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await d.Send("POST", server.Url(), R"({"frames":16})", timeout, cap);
        io.stop();  // the server may still wait: done
      },
      asio::detached);
  if (meanwhile) {
    asio::steady_timer t(io, 100ms);
    t.async_wait([&](const boost::system::error_code&) { meanwhile(d); });
    io.run_for(3s);
  } else {
    io.run_for(3s);
  }
  EXPECT_TRUE(out.has_value());
  return out.value_or(DispatchResult{});
}

TEST(JobDispatch, SendsTheBodyAndReadsTheAnswer) {
  asio::io_context io;
  OneShotServer server(io);
  DispatchResult r =
      Exchange(io, server,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
               "11\r\nConnection: close\r\n\r\n{\"ok\":true}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true})");
  EXPECT_NE(server.request.find("POST /generate HTTP/1.1"), std::string::npos);
  EXPECT_NE(server.request.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(server.request.find("\r\n\r\n{\"frames\":16}"), std::string::npos);
}

TEST(JobDispatch, DecodesAChunkedAnswer) {
  asio::io_context io;
  OneShotServer server(io);
  DispatchResult r =
      Exchange(io, server,
               "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
               "6\r\n{\"erro\r\n10\r\nr\":\"CUDA oom\"}  \r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "{\"error\":\"CUDA oom\"}  ");
}

TEST(JobDispatch, CapsTheAnswer) {
  asio::io_context io;
  OneShotServer server(io);
  std::string big(100000, 'x');
  DispatchResult r = Exchange(io, server, "HTTP/1.1 200 OK\r\n\r\n" + big, {}, 2000ms, 1000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 1000u);
  EXPECT_TRUE(r.truncated);
}

TEST(JobDispatch, TimesOut) {
  asio::io_context io;
  OneShotServer server(io);
  DispatchResult r = Exchange(io, server, "", {}, 200ms);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("no answer within"), std::string::npos) << r.error;
}

TEST(JobDispatch, AbortClosesTheConnection) {
  asio::io_context io;
  OneShotServer server(io);
  DispatchResult r = Exchange(io, server, "", [](JobDispatch& d) { d.Abort(); });
  EXPECT_TRUE(r.aborted);
  EXPECT_EQ(r.status, 0);
}

TEST(JobDispatch, RefusedConnectionIsAnError) {
  asio::io_context io;
  JobDispatch d(io);
  std::optional<DispatchResult> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await d.Send("POST", "http://127.0.0.1:1/x", "{}", 1000ms, 1000);
      },
      asio::detached);
  io.run_for(2s);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 0);
  EXPECT_FALSE(out->error.empty());
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

TEST(JobDispatch, TriedToAllocateFromAnAnswer) {
  EXPECT_EQ(TriedToAllocate(R"({"error":"CUDA out of memory","tried_to_allocate_bytes":1234})"),
            Bytes(1234));
  EXPECT_EQ(TriedToAllocate("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 "
                            "GiB. GPU 0 has a total capacity of 24.00 GiB"),
            Bytes(5ull << 29));
  EXPECT_EQ(TriedToAllocate(R"({"detail":"Tried to allocate 512.00 MiB"})"), Bytes::MiB(512));
  EXPECT_EQ(TriedToAllocate(R"({"error":"bad frames"})"), std::nullopt);
  EXPECT_EQ(TriedToAllocate(""), std::nullopt);
  EXPECT_EQ(TriedToAllocate(R"({"tried_to_allocate_bytes":-5})"), std::nullopt);
}

}  // namespace
}  // namespace vg
