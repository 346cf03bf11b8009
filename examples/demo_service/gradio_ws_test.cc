// Gradio 3's WebSocket queue (gradio_ws.h) over real sockets: the demo's HttpServer on a free port,
// a Beast WebSocket client, the app on a memory that only the OOM test makes small.
#include "gradio_ws.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_server.h"
#include "roomy_memory_testing.h"

namespace vg::demo {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
using Json = nlohmann::json;
using Tcp = net::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kWait{10000};  // for anything that should come at once

// Room for `cap` bytes: a larger allocation fails as CUDA's would.
class CappedMemory : public RoomyMemory {
 public:
  explicit CappedMemory(Bytes cap) : cap_(cap) {}
  Result<void> Grow(Bytes target) override {
    if (target <= cap_) return RoomyMemory::Grow(target);
    OomReport r;
    r.requested = target - Held();
    r.total = cap_;
    r.free = cap_ - Held();
    r.self_pid = ::getpid();
    r.processes = {{::getpid(), Held()}};
    oom_ = r;
    return Fail(ErrorCode::kRefused, "out of memory");
  }
  std::optional<OomReport> LastOom() const override { return oom_; }

 private:
  Bytes cap_;
  std::optional<OomReport> oom_;
};

// The demo's server with the WebSocket queue (and nothing else) on a free port, accepting on a
// thread of its own.
class Service {
 public:
  Service(GpuMemory& memory, GradioWsOptions options, milliseconds step_time = milliseconds(5))
      : app_(memory, Bytes::MiB(1), step_time, [](std::string_view) {}), queue_(app_, options) {
    auto server = HttpServer::Listen("127.0.0.1", 0, HttpServer::Options{});
    EXPECT_TRUE(server);
    server_ = std::move(*server);
    EXPECT_EQ(::pipe(wake_), 0);
    accept_ = std::thread([this] {
      server_->AcceptUntil(
          [this](const HttpRequest& request) {
            if (GradioWsQueue::Handles(request)) return queue_.Handle(request);
            return app_.Handle(request);
          },
          wake_[0], std::nullopt);
    });
  }
  ~Service() {  // as main does
    app_.Stop();
    queue_.Stop();
    EXPECT_EQ(::write(wake_[1], "x", 1), 1);
    accept_.join();
    server_->Shutdown();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  std::uint16_t port() const { return server_->port(); }

 private:
  DemoApp app_;
  GradioWsQueue queue_;
  std::unique_ptr<HttpServer> server_;
  int wake_[2] = {-1, -1};
  std::thread accept_;
};

// A Gradio 3 client's WebSocket; every wait is bounded.
class Client {
 public:
  explicit Client(std::uint16_t port, const std::string& path = "/queue/join") : ws_(ioc_) {
    ws_.next_layer().connect(Tcp::endpoint(net::ip::address_v4::loopback(), port));
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) ++pongs_;
    });
    ws_.handshake("127.0.0.1", path, handshake_error_);
  }

  bool open() const { return !handshake_error_; }
  int pongs() const { return pongs_; }

  // The next message as JSON; nullopt when the stream ended (error() says how) or none came.
  std::optional<Json> Read(milliseconds limit = kWait) {
    beast::flat_buffer buffer;
    std::optional<beast::error_code> result;
    ws_.async_read(buffer, [&](beast::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run_for(limit);
    if (!result) {
      ADD_FAILURE() << "no message within " << limit.count() << " ms";
      ws_.next_layer().close();
      ioc_.restart();
      ioc_.run();
      return std::nullopt;
    }
    error_ = *result;
    if (error_) return std::nullopt;
    EXPECT_TRUE(ws_.got_text());
    return Json::parse(beast::buffers_to_string(buffer.data()));
  }
  // Reads until the server's close frame: its code (0 when the connection ended otherwise).
  int ReadClose() {
    while (Read()) {
    }
    return error_ == websocket::error::closed ? ws_.reason().code : 0;
  }
  void Send(const Json& message) { Write(message.dump(), true); }
  void Write(const std::string& payload, bool text) {
    ws_.text(text);
    beast::error_code ec;
    ws_.write(net::buffer(payload), ec);
    EXPECT_FALSE(ec) << ec.message();
  }
  void Ping() { ws_.ping({}); }
  // Leaves without a word: the TCP connection closes.
  void Drop() { ws_.next_layer().close(); }
  // send_hash answered, the estimation read and returned.
  Json Join(const std::string& session) {
    auto hash = Read();
    EXPECT_EQ(hash.value_or(Json()), Json({{"msg", "send_hash"}}));
    Send({{"fn_index", 0}, {"session_hash", session}});
    return Read().value_or(Json());
  }
  void SendData(const Json& data, const std::string& session) {
    Send({{"data", data}, {"event_data", nullptr}, {"fn_index", 0}, {"session_hash", session}});
  }

 private:
  net::io_context ioc_;
  websocket::stream<Tcp::socket> ws_;
  beast::error_code handshake_error_;
  beast::error_code error_;
  int pongs_ = 0;
};

// The status a WebSocket upgrade request to `target` is answered with.
int UpgradeStatus(std::uint16_t port, const std::string& target) {
  net::io_context ioc;
  Tcp::socket socket(ioc);
  socket.connect(Tcp::endpoint(net::ip::address_v4::loopback(), port));
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_version, "13");
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // the head is enough (a 101 has no body; the others close)
  http::read_header(socket, buffer, parser);
  return parser.get().result_int();
}

std::string Msg(const std::optional<Json>& m) {
  return m && m->contains("msg") ? (*m)["msg"].get<std::string>() : "";
}

TEST(GradioWsTest, TheWholeSequenceOverARealSocket) {
  RoomyMemory memory;
  Service service(memory, {});
  Client client(service.port());
  ASSERT_TRUE(client.open());
  const Json estimation = client.Join("s1");
  EXPECT_EQ(estimation.dump(),
            R"({"avg_event_concurrent_process_time":null,"avg_event_process_time":null,)"
            R"("msg":"estimation","queue_eta":0,"queue_size":1,"rank":0,"rank_eta":null})");
  EXPECT_EQ(Msg(client.Read()), "send_data");
  client.SendData({512, 16, 4}, "s1");
  EXPECT_EQ(Msg(client.Read()), "process_starts");
  auto completed = client.Read();
  ASSERT_TRUE(completed);
  EXPECT_EQ(Msg(completed), "process_completed");
  EXPECT_EQ((*completed)["success"], true) << completed->dump();
  EXPECT_EQ((*completed)["output"]["is_generating"], false);
  ASSERT_EQ((*completed)["output"]["data"].size(), 1u);
  EXPECT_EQ((*completed)["output"]["data"][0]["ok"], true);
  EXPECT_EQ(client.ReadClose(), 1000);
}

TEST(GradioWsTest, ATooBigJobEndsInProcessCompletedWithSuccessFalse) {
  CappedMemory memory(Bytes::GiB(2));
  Service service(memory, {});
  Client client(service.port());
  client.Join("big");
  EXPECT_EQ(Msg(client.Read()), "send_data");
  client.SendData({1024, 64, 1}, "big");
  EXPECT_EQ(Msg(client.Read()), "process_starts");
  auto completed = client.Read();
  ASSERT_TRUE(completed);
  EXPECT_EQ(completed->dump(),
            R"({"msg":"process_completed","output":{"error":"CUDA out of memory"},)"
            R"("success":false})");
  EXPECT_EQ(client.ReadClose(), 1000);
}

TEST(GradioWsTest, ClientsThatLeaveBeforeSendingDataLetTheNextEventRun) {
  RoomyMemory memory;
  Service service(memory, {});
  Client first(service.port());
  first.Join("a");
  EXPECT_EQ(Msg(first.Read()), "send_data");  // its turn: it holds the queue
  Client second(service.port());
  const Json second_estimation = second.Join("b");
  EXPECT_EQ(second_estimation["rank"], 0);
  EXPECT_EQ(second_estimation["queue_size"], 1);
  Client third(service.port());
  const Json third_estimation = third.Join("c");
  EXPECT_EQ(third_estimation["rank"], 1);
  EXPECT_EQ(third_estimation["queue_size"], 2);
  second.Drop();  // leaves while waiting
  first.Drop();   // leaves after send_data, without sending data
  EXPECT_EQ(Msg(third.Read()), "send_data");
  third.SendData({256, 1, 1}, "c");
  EXPECT_EQ(Msg(third.Read()), "process_starts");
  auto completed = third.Read();
  ASSERT_TRUE(completed);
  EXPECT_EQ((*completed)["success"], true) << completed->dump();
}

TEST(GradioWsTest, DataThatComesTooLateEndsTheEventAndTheNextOneRuns) {
  RoomyMemory memory;
  GradioWsOptions options;
  options.data_timeout = milliseconds(150);
  Service service(memory, options);
  Client slow(service.port());
  slow.Join("slow");
  EXPECT_EQ(Msg(slow.Read()), "send_data");
  const auto sent = steady_clock::now();
  Client next(service.port());
  next.Join("next");
  auto completed = slow.Read();
  EXPECT_GE(steady_clock::now() - sent, milliseconds(150));
  ASSERT_TRUE(completed);
  EXPECT_EQ(completed->dump(),
            R"({"msg":"process_completed","output":{"error":"Time out uploading data to server"},)"
            R"("success":false})");
  EXPECT_EQ(slow.ReadClose(), 1000);
  EXPECT_EQ(Msg(next.Read()), "send_data");
}

TEST(GradioWsTest, MessagesTooBigBinaryOrWithoutAHashCloseTheConnection) {
  RoomyMemory memory;
  Service service(memory, {});
  Client big(service.port());
  EXPECT_EQ(Msg(big.Read()), "send_hash");
  big.Write(std::string((1 << 20) + 1, ' '), true);
  EXPECT_EQ(big.ReadClose(), 1009);
  Client binary(service.port());
  EXPECT_EQ(Msg(binary.Read()), "send_hash");
  binary.Write("{}", false);
  EXPECT_EQ(binary.ReadClose(), 1003);
  Client no_hash(service.port());
  EXPECT_EQ(Msg(no_hash.Read()), "send_hash");
  no_hash.Send({{"fn_index", 0}});
  EXPECT_EQ(no_hash.ReadClose(), 1008);
}

TEST(GradioWsTest, PingsAreAnsweredAndConnectionsBeyondTheLimitAreRefused) {
  RoomyMemory memory;
  GradioWsOptions options;
  options.max_connections = 2;
  Service service(memory, options);
  Client pinger(service.port());
  pinger.Ping();
  EXPECT_EQ(Msg(pinger.Read()), "send_hash");
  pinger.Ping();
  pinger.Send({{"fn_index", 0}, {"session_hash", "p"}});
  EXPECT_EQ(Msg(pinger.Read()), "estimation");
  EXPECT_EQ(pinger.pongs(), 2);
  Client second(service.port());
  EXPECT_EQ(Msg(second.Read()), "send_hash");
  EXPECT_EQ(UpgradeStatus(service.port(), "/queue/join"), 503);
  EXPECT_EQ(UpgradeStatus(service.port(), "/health"), 200);  // not the queue: answered
  second.Drop();
  // The place is free again once the server has seen the client leave.
  int status = 0;
  for (int i = 0; i < 200 && status != 101; ++i) {
    status = UpgradeStatus(service.port(), "/queue/join");
    if (status != 101) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(status, 101);
}

TEST(GradioWsTest, PlainRequestsAreAnsweredAndTheServerHandsOverTheBytesPastTheHead) {
  RoomyMemory memory;
  DemoApp app(memory, Bytes::MiB(1), milliseconds(1), [](std::string_view) {});
  GradioWsQueue queue(app);
  EXPECT_EQ(queue.Handle(TestRequest("GET", "/queue/join")).status, 400);
  EXPECT_EQ(queue.Handle(TestRequest("POST", "/queue/join")).status, 405);
  EXPECT_TRUE(GradioWsQueue::Handles(TestRequest("GET", "/queue/join?x=1")));
  EXPECT_FALSE(GradioWsQueue::Handles(TestRequest("GET", "/gradio_api/queue/join")));
  app.Stop();

  // HttpServer's takeover: the handler's callback gets the socket and what came after the head.
  auto server = HttpServer::Listen("127.0.0.1", 0, HttpServer::Options{});
  ASSERT_TRUE(server);
  int wake[2];
  ASSERT_EQ(::pipe(wake), 0);
  std::thread accept([&] {
    (*server)->AcceptUntil(
        [](const HttpRequest&) {
          HttpResponse r;
          r.takeover = [](int fd, const std::string& early) {
            const std::string answer = "early=" + early;
            EXPECT_EQ(::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL),
                      static_cast<ssize_t>(answer.size()));
          };
          return r;
        },
        wake[0], std::nullopt);
  });
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons((*server)->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string request = "GET /x HTTP/1.1\r\nHost: h\r\n\r\nHELLO";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(got, "early=HELLO");  // and the server closed the connection when the call returned
  ::close(fd);
  EXPECT_EQ(::write(wake[1], "x", 1), 1);
  accept.join();
  (*server)->Shutdown();
  ::close(wake[0]);
  ::close(wake[1]);
}

}  // namespace
}  // namespace vg::demo
