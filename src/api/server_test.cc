// The server and the client together over real sockets: the server's io_context runs on a
// thread, the test talks to it with ApiClient or, for what ApiClient will not send, raw bytes.
#include "api/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "api/client.h"
#include "api/raw_http_test_util.h"
#include "util/json_limits.h"

namespace vg {
namespace {
namespace net = boost::asio;
using testing::RawConnection;
using testing::RawResponse;
using namespace std::chrono_literals;

std::string MakeTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vg-api-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// A socket file nobody listens on, as a daemon killed with SIGKILL leaves behind.
void MakeStaleSocket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
}

std::string Request(std::string_view method, std::string_view target, std::string_view content_type,
                    std::string_view body, std::string_view extra = "") {
  std::string out =
      std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!content_type.empty()) out += "Content-Type: " + std::string(content_type) + "\r\n";
  if (!body.empty() || method == "POST")
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += std::string(extra) + "\r\n" + std::string(body);
  return out;
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    socket_path_ = dir_ + "/run/vramguard.sock";  // "run" does not exist yet: the server makes it
    router_.Add("POST", "/v1/echo", [](const HttpRequest& request, const PathParams&) {
      auto body = ParseJsonBody(request);
      if (!body) return HandlerResult(body.error());
      return HandlerResult(
          HttpResponse::Json(200, {{"got", *body}, {"trusted", request.trusted_transport}}));
    });
    router_.Add("GET", "/v1/services/{name}/logs",
                [](const HttpRequest& request, const PathParams& params) -> HandlerResult {
                  return HttpResponse::Json(
                      200,
                      {{"name", params.at("name")},
                       {"lines", request.query.count("lines") ? request.query.at("lines") : ""}});
                });
    router_.Add("GET", "/v1/boom", [](const HttpRequest&, const PathParams&) -> HandlerResult {
      throw std::runtime_error("secret-detail-7f3a");
    });
    router_.OnHandlerException(
        [this](std::string_view, std::string_view what) { exception_seen_ = std::string(what); });
    // Three events, then the end of the stream.
    router_.Add("GET", "/v1/events", [](const HttpRequest&, const PathParams&) -> HandlerResult {
      return StreamStarter([](const std::shared_ptr<ResponseStream>& stream) {
        stream->Write("one");
        stream->Write("two\n");
        stream->Write("three");
        stream->Close();
      });
    });
    // Keeps the stream open and hands it to the test (touched on the loop thread only).
    router_.Add("GET", "/v1/follow",
                [this](const HttpRequest&, const PathParams&) -> HandlerResult {
                  return StreamStarter([this](const std::shared_ptr<ResponseStream>& stream) {
                    stream->Write("first");
                    streams_.push_back(stream);
                  });
                });
  }

  void TearDown() override {
    StopServer();
    std::filesystem::remove_all(dir_);
  }

  void StartServer(ApiServerOptions options = {}, bool unix_socket = true) {
    server_ = std::make_unique<ApiServer>(io_, router_, std::move(options));
    if (unix_socket) {
      Result<void> listening = server_->ListenUnix(socket_path_);
      ASSERT_TRUE(listening) << listening.error().message;
    }
  }

  void RunLoop() {
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stops the server on its thread; the loop then runs out of work, which also proves that
  // Stop() left no operation pending.
  void StopServer() {
    if (thread_.joinable()) {
      net::post(io_, [this] { server_->Stop(); });
      guard_.reset();
      thread_.join();
    }
    server_.reset();
    streams_.clear();
  }

  // Runs `f` on the loop thread and returns its result.
  template <class F>
  auto OnLoop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    net::post(io_, [&task] { task(); });
    return result.get();
  }

  // Polls `condition` on the loop thread until it holds or 5 s pass.
  template <class F>
  bool EventuallyOnLoop(F condition) {
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(2ms)) {
      if (OnLoop(condition)) return true;
    }
    return false;
  }

  ApiClient Client() const { return ApiClient::ForUnixSocket(socket_path_); }

  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  Router router_;
  std::string dir_;
  std::string socket_path_;
  std::unique_ptr<ApiServer> server_;
  std::thread thread_;
  std::vector<std::shared_ptr<ResponseStream>> streams_;
  std::string exception_seen_;
};

TEST_F(ApiServerTest, JsonRoundTrip) {
  StartServer();
  RunLoop();
  nlohmann::json sent = {{"resolution", 768}, {"frames", 24}, {"name", "i2v \u00e9"}};
  auto response = Client().Request("POST", "/v1/echo", sent);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->json["got"], sent);
  EXPECT_EQ(response->json["trusted"], true);
}

TEST_F(ApiServerTest, DeferredResponsesAreSentWhenAnsweredAndOnlyOnce) {
  // The handler keeps the responders; the test answers them later, in reverse order.
  std::vector<Responder> held;
  router_.Add("POST", "/v1/later", [&held](const HttpRequest&, const PathParams&) {
    return HandlerResult(
        DeferredResponse{[&held](const Responder& respond) { held.push_back(respond); }});
  });
  StartServer();
  RunLoop();
  auto first = std::async(std::launch::async, [this] {
    return Client().Request("POST", "/v1/later", nlohmann::json{{"n", 1}});
  });
  auto second = std::async(std::launch::async, [this] {
    return Client().Request("POST", "/v1/later", nlohmann::json{{"n", 2}});
  });
  ASSERT_TRUE(EventuallyOnLoop([&] { return held.size() == 2; }));
  EXPECT_EQ(first.wait_for(50ms), std::future_status::timeout);  // nothing sent before the answer
  OnLoop([&] {
    held[1](HttpResponse::Json(202, {{"id", 2}}));
    held[0](HttpResponse::Json(202, {{"id", 1}}));
    held[0](HttpResponse::Json(500, {{"id", -1}}));  // a second answer is ignored
    return 0;
  });
  auto a = first.get();
  auto b = second.get();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status + b->status, 404);
  EXPECT_EQ(a->json["id"].get<int>() + b->json["id"].get<int>(), 3);
  // The server goes on serving.
  auto again = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(ApiServerTest, PathParamsAndQuery) {
  StartServer();
  RunLoop();
  auto response = Client().Request("GET", "/v1/services/my%20svc/logs?lines=20");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->json["name"], "my svc");
  EXPECT_EQ(response->json["lines"], "20");
}

TEST_F(ApiServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  StartServer();
  RunLoop();
  auto missing = Client().Request("GET", "/v1/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(missing->json.contains("error"));
  auto wrong = Client().Request("DELETE", "/v1/echo");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);

  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/echo", "", "")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->headers["allow"], "POST");
}

TEST_F(ApiServerTest, OversizedBodyIs413) {
  StartServer();
  RunLoop();
  nlohmann::json big = {{"blob", std::string(1 << 20, 'x')}};  // just over the 1 MiB default
  auto response = Client().Request("POST", "/v1/echo", big);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(response->json["error"].is_string());
  // The same for a chunked body, which carries no Content-Length to check up front.
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(
      raw.Send("POST /v1/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
               "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
  for (int i = 0; i < 17 && raw.Send(chunk); ++i) {
  }
  auto chunked = raw.ReadResponse();
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 413);
  EXPECT_TRUE(raw.WaitForClose());
}

TEST_F(ApiServerTest, BodyAtTheLimitIsAccepted) {
  ApiServerOptions options;
  options.body_limit = 4096;
  StartServer(options);
  RunLoop();
  std::string body = R"({"s":")" + std::string(4096 - 8, 'y') + R"("})";
  ASSERT_EQ(body.size(), 4096u);
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", body)));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  RawConnection over = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(over.Send(Request("POST", "/v1/echo", "application/json", body + " ")));
  auto refused = over.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 413);
}

TEST_F(ApiServerTest, TextPlainBodyIs415) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("POST", "/v1/echo", "text/plain", R"({"a":1})")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 415);
  EXPECT_TRUE(nlohmann::json::parse(response->body).contains("hint"));
}

TEST_F(ApiServerTest, MalformedJsonIs400WithHint) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", R"({"a": 1,)")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  nlohmann::json body = nlohmann::json::parse(response->body);
  EXPECT_TRUE(body["error"].is_string());
  EXPECT_FALSE(body["hint"].get<std::string>().empty());
}

TEST_F(ApiServerTest, HandlerExceptionIs500WithoutItsText) {
  StartServer();
  RunLoop();
  auto response = Client().Request("GET", "/v1/boom");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body.find("secret-detail-7f3a"), std::string::npos) << response->body;
  EXPECT_TRUE(response->json["error"].is_string());
  EXPECT_EQ(OnLoop([this] { return exception_seen_; }), "secret-detail-7f3a");
}

TEST_F(ApiServerTest, MalformedHttpIs400AndClosed) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send("GET /v1/echo HTTP/1.1\r\nHost localhost no colon\r\n\r\n"));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(raw.WaitForClose());
}

TEST_F(ApiServerTest, OversizedHeadersAre431) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(
      Request("GET", "/v1/nothing", "", "", "X-Padding: " + std::string(20000, 'p') + "\r\n")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
}

TEST_F(ApiServerTest, TooManyHeaderFieldsAre431) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  std::string extra;
  for (std::size_t i = 0; i <= kMaxHeaderFields; ++i) extra += "X-" + std::to_string(i) + ": a\r\n";
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/services/x/logs", "", "", extra)));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("header fields"), std::string::npos) << response->body;
  EXPECT_TRUE(raw.WaitForClose());
}

// Issue 10: 400,000 levels (800 KB, under the body limit) crashed the daemon; 5,000 levels echoed
// the whole value back. Both are a short 400 naming the limit, before any parsing.
TEST_F(ApiServerTest, DeeplyNestedJsonIs400NamingTheLimit) {
  StartServer();
  RunLoop();
  for (std::size_t levels : {std::size_t{400000}, std::size_t{5000}}) {
    std::string body = "{\"params\": " + std::string(levels, '[') + std::string(levels, ']') + "}";
    auto start = std::chrono::steady_clock::now();
    RawConnection raw = RawConnection::Unix(socket_path_);
    ASSERT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", body)));
    auto response = raw.ReadResponse();
    ASSERT_TRUE(response) << levels;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_EQ(response->status, 400);
    EXPECT_LT(response->body.size(), 300u) << response->body;
    EXPECT_NE(response->body.find("deeper than " + std::to_string(kMaxJsonDepth)),
              std::string::npos)
        << response->body;
  }
}

TEST_F(ApiServerTest, RequestsFasterThanTheRateOnOneConnectionAre429) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  std::string burst;
  const int sent = static_cast<int>(kRequestBurst) * 2;
  for (int i = 0; i < sent; ++i) burst += Request("GET", "/v1/services/x/logs", "", "");
  std::thread writer([&] { raw.Send(burst); });  // the server may close before taking it all
  int ok = 0;
  std::optional<RawResponse> response;
  while ((response = raw.ReadResponse()) && response->status == 200) ++ok;
  writer.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->headers["retry-after"], "1");
  EXPECT_GE(ok, static_cast<int>(kRequestBurst));
  EXPECT_LT(ok, sent);
  // Another connection is served.
  auto other = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->status, 200);
}

// A batch client on one connection (options.max_requests_per_second = 0, daemon.request_rate).
TEST_F(ApiServerTest, NoRateLimitWhenTheRateIsZero) {
  ApiServerOptions options;
  options.max_requests_per_second = 0;
  StartServer(options);
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  std::string burst;
  const int sent = static_cast<int>(kRequestBurst) * 2;
  for (int i = 0; i < sent; ++i) burst += Request("GET", "/v1/services/x/logs", "", "");
  std::thread writer([&] { raw.Send(burst); });
  int ok = 0;
  std::optional<RawResponse> response;
  while (ok < sent && (response = raw.ReadResponse()) && response->status == 200) ++ok;
  writer.join();
  EXPECT_EQ(ok, sent);
}

TEST_F(ApiServerTest, TheRateLimitIsAnOption) {
  ApiServerOptions options;
  options.max_requests_per_second = 1;
  options.request_burst = 3;
  StartServer(options);
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  std::string burst;
  for (int i = 0; i < 5; ++i) burst += Request("GET", "/v1/services/x/logs", "", "");
  std::thread writer([&] { raw.Send(burst); });
  int ok = 0;
  std::optional<RawResponse> response;
  while ((response = raw.ReadResponse()) && response->status == 200) ++ok;
  writer.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(ok, 3);
}

TEST_F(ApiServerTest, ConnectionsOverTheLimitAre503) {
  ApiServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  RunLoop();
  RawConnection a = RawConnection::Unix(socket_path_);
  RawConnection b = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(EventuallyOnLoop([this] { return server_->connection_count() == 2; }));
  RawConnection c = RawConnection::Unix(socket_path_);
  auto response = c.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_NE(response->body.find("more than 2 connections"), std::string::npos) << response->body;
  EXPECT_TRUE(c.WaitForClose());
  // The open ones are still served.
  ASSERT_TRUE(a.Send(Request("GET", "/v1/services/x/logs", "", "")));
  auto served = a.ReadResponse();
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
}

TEST_F(ApiServerTest, StreamsOverTheLimitAre503) {
  ApiServerOptions options;
  options.max_streams = 1;
  StartServer(options);
  RunLoop();
  RawConnection first = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(first.Send(Request("GET", "/v1/follow", "", "")));
  ASSERT_TRUE(EventuallyOnLoop([this] { return streams_.size() == 1; }));
  RawConnection second = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(second.Send(Request("GET", "/v1/follow", "", "")));
  auto response = second.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_NE(response->body.find("streams"), std::string::npos) << response->body;
  // Ending the first frees its slot.
  OnLoop([this] {
    streams_[0]->Close();
    return 0;
  });
  RawConnection third = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(third.Send(Request("GET", "/v1/follow", "", "")));
  ASSERT_TRUE(EventuallyOnLoop([this] { return streams_.size() == 2; }));
}

TEST_F(ApiServerTest, KeepAliveAndPipelinedRequestsShareAConnection) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/services/a/logs", "", "") +
                       Request("GET", "/v1/services/b/logs", "", "")));
  auto first = raw.ReadResponse();
  auto second = raw.ReadResponse();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(nlohmann::json::parse(first->body)["name"], "a");
  EXPECT_EQ(nlohmann::json::parse(second->body)["name"], "b");
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/services/c/logs", "", "")));
  auto third = raw.ReadResponse();
  ASSERT_TRUE(third);
  EXPECT_EQ(nlohmann::json::parse(third->body)["name"], "c");
}

// Pipelining (docs/api.md, "Transport"): a connection reads on while deferred answers are
// pending, and the responses go out in request order whatever order the answers come in.
class PipelineTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    // The handler keeps its responder (on the loop thread); the test answers it later.
    router_.Add("POST", "/v1/later", [this](const HttpRequest&, const PathParams&) {
      return HandlerResult(
          DeferredResponse{[this](const Responder& respond) { held_.push_back(respond); }});
    });
    router_.Add("GET", "/v1/counted", [this](const HttpRequest&, const PathParams&) {
      return HandlerResult(StreamStarter([this](const std::shared_ptr<ResponseStream>& stream) {
        ++streams_started_;
        stream->Write("streamed");
        stream->Close();
      }));
    });
  }

  static std::string Later() { return Request("POST", "/v1/later", "application/json", "{}"); }

  std::size_t Held() {
    return OnLoop([this] { return held_.size(); });
  }

  // Answers held_[i] with {"id": i} on the loop thread.
  void Answer(std::size_t i, int status = 202) {
    OnLoop([this, i, status] {
      held_.at(i)(HttpResponse::Json(status, {{"id", i}}));
      return 0;
    });
  }

  static int IdOf(const std::optional<RawResponse>& response) {
    return response ? nlohmann::json::parse(response->body)["id"].get<int>() : -1;
  }

  std::vector<Responder> held_;
  int streams_started_ = 0;
};

TEST_F(PipelineTest, DeferredAnswersAreSentInRequestOrder) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  // Three deferred requests with an immediate one between them, sent at once.
  ASSERT_TRUE(
      raw.Send(Later() + Later() + Request("GET", "/v1/services/a/logs", "", "") + Later()));
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 3; }));
  // The last answers first, then the second: nothing may go out before the first's answer.
  Answer(2);
  Answer(1);
  EXPECT_FALSE(raw.ReadResponse(100ms));
  Answer(0);
  auto first = raw.ReadResponse();
  auto second = raw.ReadResponse();
  auto immediate = raw.ReadResponse();
  auto last = raw.ReadResponse();
  ASSERT_TRUE(first && second && immediate && last);
  EXPECT_EQ(IdOf(first), 0);
  EXPECT_EQ(IdOf(second), 1);
  EXPECT_EQ(nlohmann::json::parse(immediate->body)["name"], "a");
  EXPECT_EQ(IdOf(last), 2);
  EXPECT_EQ(first->status, 202);
  // A second answer to one request is ignored; the connection goes on serving.
  Answer(0, 500);
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/services/b/logs", "", "")));
  auto next = raw.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(nlohmann::json::parse(next->body)["name"], "b");
}

TEST_F(PipelineTest, AtMostTheDepthIsReadAhead) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  std::string batch;
  const std::size_t sent = kMaxPipelineDepth + 4;
  for (std::size_t i = 0; i < sent; ++i) batch += Later();
  ASSERT_TRUE(raw.Send(batch));
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == kMaxPipelineDepth; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(Held(), kMaxPipelineDepth);  // the rest waits in the socket
  // The oldest answered and written: one more is read.
  Answer(0);
  auto first = raw.ReadResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(IdOf(first), 0);
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == kMaxPipelineDepth + 1; }));
  // Answered but not first in line frees nothing: the depth counts unwritten responses.
  Answer(kMaxPipelineDepth);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(Held(), kMaxPipelineDepth + 1);
  for (std::size_t i = 1; i < sent; ++i) {
    ASSERT_TRUE(EventuallyOnLoop([this, i] { return held_.size() > i; }));
    if (i != kMaxPipelineDepth) Answer(i);
    auto response = raw.ReadResponse();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(IdOf(response), static_cast<int>(i));
  }
}

TEST_F(PipelineTest, AStreamStartsOnceEverythingBeforeItIsWrittenAndStopsTheReadAhead) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Later() + Later() + Request("GET", "/v1/counted", "", "") + Later()));
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 2; }));
  std::this_thread::sleep_for(50ms);
  // The stream waits for the two answers before it; the request after it is not read.
  EXPECT_EQ(OnLoop([this] { return streams_started_; }), 0);
  EXPECT_EQ(Held(), 2u);
  Answer(1);
  Answer(0);
  auto first = raw.ReadResponse();
  auto second = raw.ReadResponse();
  auto streamed = raw.ReadResponse();
  ASSERT_TRUE(first && second && streamed);
  EXPECT_EQ(IdOf(first), 0);
  EXPECT_EQ(IdOf(second), 1);
  EXPECT_EQ(streamed->headers["transfer-encoding"], "chunked");
  EXPECT_EQ(streamed->body, "streamed");
  // After the stream ended, the request pipelined behind it is served.
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 3; }));
  Answer(2);
  auto last = raw.ReadResponse();
  ASSERT_TRUE(last);
  EXPECT_EQ(IdOf(last), 2);
}

TEST_F(PipelineTest, ClientLeavingWithAnswersPendingIsClosedAndLateAnswersAreIgnored) {
  StartServer();
  RunLoop();
  {
    RawConnection raw = RawConnection::Unix(socket_path_);
    ASSERT_TRUE(raw.Send(Later() + Later() + Later()));
    ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 3; }));
  }  // closed with three answers pending
  Answer(1);
  Answer(0);
  Answer(2);
  EXPECT_TRUE(EventuallyOnLoop([this] { return server_->connection_count() == 0; }));
  Answer(0);  // after the close: nothing happens
  // The responders still held keep nothing open once dropped.
  OnLoop([this] {
    held_.clear();
    return 0;
  });
  auto other = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
}

TEST_F(PipelineTest, AHalfClosedClientGetsEveryAnswerThenTheClose) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Later() + Later()));
  raw.ShutdownSend();
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 2; }));
  Answer(1);
  Answer(0);
  EXPECT_EQ(IdOf(raw.ReadResponse()), 0);
  EXPECT_EQ(IdOf(raw.ReadResponse()), 1);
  EXPECT_TRUE(raw.WaitForClose());
}

TEST_F(PipelineTest, AMalformedRequestIsAnsweredAfterTheEarlierOnesThenClosed) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Later() + Later() +
                       "GET /v1/echo HTTP/1.1\r\nHost localhost no colon\r\n\r\n" + Later()));
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 2; }));
  EXPECT_FALSE(raw.ReadResponse(100ms));  // the 400 does not jump the queue
  Answer(0);
  Answer(1);
  EXPECT_EQ(IdOf(raw.ReadResponse()), 0);
  EXPECT_EQ(IdOf(raw.ReadResponse()), 1);
  auto rejected = raw.ReadResponse();
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 400);
  EXPECT_EQ(rejected->headers["connection"], "close");
  EXPECT_TRUE(raw.WaitForClose());
  EXPECT_EQ(Held(), 2u);  // nothing after the malformed request was dispatched
}

TEST_F(PipelineTest, ARateLimitRefusalMidPipelineFollowsTheEarlierAnswers) {
  ApiServerOptions options;
  options.max_requests_per_second = 1;
  options.request_burst = 2;
  StartServer(options);
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Later() + Later() + Later()));
  ASSERT_TRUE(EventuallyOnLoop([this] { return held_.size() == 2; }));
  Answer(1);
  Answer(0);
  EXPECT_EQ(IdOf(raw.ReadResponse()), 0);
  EXPECT_EQ(IdOf(raw.ReadResponse()), 1);
  auto refused = raw.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_TRUE(raw.WaitForClose());
}

TEST_F(ApiServerTest, ExpectContinueIsAnswered) {
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  std::string body = R"({"x":1})";
  ASSERT_TRUE(
      raw.Send("POST /v1/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
               "application/json\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = raw.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(raw.Send(body));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(ApiServerTest, IdleConnectionIsClosed) {
  ApiServerOptions options;
  options.idle_timeout = 50ms;
  StartServer(options);
  RunLoop();
  RawConnection idle = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(idle.connected());
  EXPECT_TRUE(idle.WaitForClose(3000ms));
  EXPECT_TRUE(EventuallyOnLoop([this] { return server_->connection_count() == 0; }));
}

TEST_F(ApiServerTest, ManyIdleConnectionsOnOneThread) {
  StartServer();
  RunLoop();
  std::vector<RawConnection> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(RawConnection::Unix(socket_path_));
  EXPECT_TRUE(EventuallyOnLoop([this] { return server_->connection_count() == 200; }));
  auto response = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
}

TEST_F(ApiServerTest, SocketIsOwnerOnlyInAPrivateDirectory) {
  StartServer();
  struct stat st {};
  ASSERT_EQ(::stat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ApiServerTest, StaleSocketIsReplaced) {
  std::filesystem::create_directories(dir_ + "/run");
  MakeStaleSocket(socket_path_);
  auto before = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_FALSE(before);
  EXPECT_NE(before.error().message.find("stale socket"), std::string::npos);
  StartServer();
  RunLoop();
  auto response = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
}

TEST_F(ApiServerTest, SecondServerOnALiveSocketIsRefused) {
  StartServer();
  RunLoop();
  net::io_context other_io;
  Router other_router;
  ApiServer second(other_io, other_router, {});
  Result<void> listening = second.ListenUnix(socket_path_);
  ASSERT_FALSE(listening);
  EXPECT_EQ(listening.error().code, ErrorCode::kRefused);
  EXPECT_EQ(listening.error().message, "another vramguard daemon is listening on " + socket_path_);
  // The first server is untouched.
  auto response = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
}

TEST_F(ApiServerTest, RegularFileAtSocketPathIsNotRemoved) {
  std::filesystem::create_directories(dir_ + "/run");
  {
    std::FILE* f = std::fopen(socket_path_.c_str(), "w");
    std::fclose(f);
  }
  ApiServer server(io_, router_, {});
  Result<void> listening = server.ListenUnix(socket_path_);
  ASSERT_FALSE(listening);
  EXPECT_TRUE(std::filesystem::is_regular_file(socket_path_));
}

TEST_F(ApiServerTest, StopRemovesTheSocketAndEndsStreams) {
  StartServer();
  RunLoop();
  std::atomic<bool> got_first = false;
  std::thread follower([this, &got_first] {
    // The server ends the stream; how it ends is not what this test checks.
    // NOLINTNEXTLINE(bugprone-unused-return-value)
    (void)Client().Stream("/v1/follow", [&](std::string_view) {
      got_first = true;
      return true;
    });
  });
  ASSERT_TRUE(EventuallyOnLoop([this] { return streams_.size() == 1; }));
  OnLoop([this] {
    server_->Stop();
    return 0;
  });
  follower.join();  // returns because the server closed the connection
  EXPECT_TRUE(got_first);
  EXPECT_TRUE(OnLoop([this] { return streams_[0]->closed() && !streams_[0]->Write("x"); }));
  EXPECT_FALSE(std::filesystem::exists(socket_path_));
}

TEST_F(ApiServerTest, SseStreamDeliversEventsThenEnds) {
  StartServer();
  RunLoop();
  std::vector<std::string> lines;
  Result<void> streamed = Client().Stream("/v1/events", [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  });
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three"}));
}

TEST_F(ApiServerTest, StreamWireFormats) {
  StartServer();
  RunLoop();
  RawConnection sse = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(sse.Send(Request("GET", "/v1/events", "", "", "Accept: text/event-stream\r\n")));
  auto events = sse.ReadResponse();
  ASSERT_TRUE(events);
  EXPECT_EQ(events->headers["content-type"], "text/event-stream");
  EXPECT_EQ(events->body, "data: one\n\ndata: two\n\ndata: three\n\n");
  // Without the Accept header: plain chunks, and the connection serves the next request.
  RawConnection plain = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(plain.Send(Request("GET", "/v1/events", "", "")));
  auto chunks = plain.ReadResponse();
  ASSERT_TRUE(chunks);
  EXPECT_EQ(chunks->headers["content-type"].rfind("text/plain", 0), 0u);
  EXPECT_EQ(chunks->body, "onetwo\nthree");
  ASSERT_TRUE(plain.Send(Request("GET", "/v1/services/z/logs", "", "")));
  auto next = plain.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(nlohmann::json::parse(next->body)["name"], "z");
}

TEST_F(ApiServerTest, SseSplitsLinesAtCrLfAndLoneCr) {
  router_.Add("GET", "/v1/progress", [](const HttpRequest&, const PathParams&) -> HandlerResult {
    return StreamStarter([](const std::shared_ptr<ResponseStream>& stream) {
      stream->Write("10%\r20%\r\n");  // a progress bar
      stream->Write("");              // an empty log line
      stream->Write("x\r\ny");
      stream->Close();
    });
  });
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/progress", "", "", "Accept: text/event-stream\r\n")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "data: 10%\ndata: 20%\n\ndata: \n\ndata: x\ndata: y\n\n");
  std::vector<std::string> lines;
  ASSERT_TRUE(Client().Stream("/v1/progress", [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  }));
  EXPECT_EQ(lines, (std::vector<std::string>{"10%", "20%", "", "x", "y"}));
}

TEST_F(ApiServerTest, ClientDisconnectIsSeenByTheHandler) {
  StartServer();
  RunLoop();
  std::vector<std::string> lines;
  Result<void> streamed = Client().Stream("/v1/follow", [&](std::string_view line) {
    lines.emplace_back(line);
    return false;  // the user pressed Ctrl-C after the first line
  });
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_EQ(lines, std::vector<std::string>{"first"});
  ASSERT_TRUE(EventuallyOnLoop([this] { return streams_.size() == 1 && streams_[0]->closed(); }));
  EXPECT_FALSE(OnLoop([this] { return streams_[0]->Write("late"); }));
}

TEST_F(ApiServerTest, ClientThatDoesNotReadIsDroppedAtTheQueueLimit) {
  StartServer();
  RunLoop();
  RawConnection stalled = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(stalled.Send(Request("GET", "/v1/follow", "", "", "Accept: text/event-stream\r\n")));
  ASSERT_TRUE(EventuallyOnLoop([this] { return streams_.size() == 1; }));
  std::size_t written = OnLoop([this] {
    std::string event(64 * 1024, 'e');
    std::size_t total = 0;
    while (total < (64u << 20) && streams_[0]->Write(event)) total += event.size();
    return total;
  });
  EXPECT_LT(written, 16u << 20);  // the queue limit plus what the kernel buffers
  EXPECT_TRUE(OnLoop([this] { return streams_[0]->closed(); }));
}

TEST_F(ApiServerTest, StreamThatIsDroppedEndsTheResponse) {
  router_.Add("GET", "/v1/dropped", [](const HttpRequest&, const PathParams&) -> HandlerResult {
    return StreamStarter(
        [](const std::shared_ptr<ResponseStream>& stream) { stream->Write("only"); });
  });
  StartServer();
  RunLoop();
  std::vector<std::string> lines;
  ASSERT_TRUE(Client().Stream("/v1/dropped", [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  }));
  EXPECT_EQ(lines, std::vector<std::string>{"only"});
}

TEST_F(ApiServerTest, StreamErrorStatusBecomesAnError) {
  StartServer();
  RunLoop();
  Result<void> streamed =
      Client().Stream("/v1/services/x/nothing", [](std::string_view) { return true; });
  ASSERT_FALSE(streamed);
  EXPECT_EQ(streamed.error().code, ErrorCode::kNotFound);
  EXPECT_NE(streamed.error().message.find("/v1/services/x/nothing"), std::string::npos);
}

TEST_F(ApiServerTest, TcpRequiresTheBearerToken) {
  ApiServerOptions options;
  options.token = "s3cret-token";
  StartServer(options, /*unix_socket=*/false);
  Result<void> listening = server_->ListenTcp("127.0.0.1:0");
  ASSERT_TRUE(listening) << listening.error().message;
  ASSERT_TRUE(server_->tcp_port());
  int port = *server_->tcp_port();
  EXPECT_GT(port, 0);
  RunLoop();

  auto ask = [&](const std::string& extra) {
    RawConnection raw = RawConnection::Tcp(port);
    EXPECT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", "{}", extra)));
    auto response = raw.ReadResponse();
    return response ? response->status : -1;
  };
  EXPECT_EQ(ask(""), 401);
  EXPECT_EQ(ask("Authorization: Bearer wrong-token\r\n"), 401);
  EXPECT_EQ(ask("Authorization: Bearer s3cret-token-longer\r\n"), 401);
  EXPECT_EQ(ask("Authorization: Basic s3cret-token\r\n"), 401);
  EXPECT_EQ(ask("Authorization: Bearer s3cret-token\r\n"), 200);

  RawConnection raw = RawConnection::Tcp(port);
  ASSERT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", "{}",
                               "Authorization: Bearer s3cret-token\r\n")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(nlohmann::json::parse(response->body)["trusted"], false);
}

TEST_F(ApiServerTest, SseEventsCarryTheirIdsAndPlainTextLeavesThemOut) {
  router_.Add("GET", "/v1/ids", [](const HttpRequest&, const PathParams&) -> HandlerResult {
    return StreamStarter([](const std::shared_ptr<ResponseStream>& stream) {
      stream->WriteEvent("7", "a\nb");
      stream->WriteEvent("8\r\n9", "c");  // an id never ends its line early
      stream->WriteEvent("", "d");        // no id: no id line
      stream->Close();
    });
  });
  StartServer();
  RunLoop();
  RawConnection sse = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(sse.Send(Request("GET", "/v1/ids", "", "", "Accept: text/event-stream\r\n")));
  auto events = sse.ReadResponse();
  ASSERT_TRUE(events);
  EXPECT_EQ(events->body, "id: 7\ndata: a\ndata: b\n\nid: 89\ndata: c\n\ndata: d\n\n");
  RawConnection plain = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(plain.Send(Request("GET", "/v1/ids", "", "")));
  auto chunks = plain.ReadResponse();
  ASSERT_TRUE(chunks);
  EXPECT_EQ(chunks->body, "a\nbcd");
}

// The dashboard over TCP with a token (api/access.h has every rule; these are the wiring).
class DashboardTcpTest : public ApiServerTest {
 protected:
  void Check(bool public_read) {
    router_.Add("GET", "/", [](const HttpRequest&, const PathParams&) -> HandlerResult {
      HttpResponse page;
      page.content_type = "text/html";
      page.body = "<!doctype html>";
      return page;
    });
    ApiServerOptions options;
    options.token = "s3cret";
    options.public_read = public_read;
    StartServer(options, /*unix_socket=*/false);
    ASSERT_TRUE(server_->ListenTcp("127.0.0.1:0"));
    const int port = *server_->tcp_port();
    const std::string host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
    RunLoop();
    auto ask = [&](std::string_view method, std::string_view target, const std::string& extra) {
      RawConnection raw = RawConnection::Tcp(port);
      std::string request =
          std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n" + host + extra +
          (method == "POST" ? "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                            : "\r\n");
      EXPECT_TRUE(raw.Send(request));
      auto response = raw.ReadResponse();
      return response ? response->status : -1;
    };
    const std::string token = "Authorization: Bearer s3cret\r\n";
    EXPECT_EQ(ask("GET", "/", ""), 200);
    EXPECT_EQ(ask("GET", "/v1/services/x/logs", ""), public_read ? 200 : 401);
    EXPECT_EQ(ask("GET", "/v1/services/x/logs", token), 200);
    EXPECT_EQ(ask("POST", "/v1/echo", ""), 401);
    EXPECT_EQ(ask("POST", "/v1/echo", token), 200);
    // CSRF: another origin's page cannot post, even with the token in hand.
    EXPECT_EQ(ask("POST", "/v1/echo", token + "Origin: http://evil.example\r\n"), 403);
    EXPECT_EQ(ask("POST", "/v1/echo", token + "Sec-Fetch-Site: cross-site\r\n"), 403);
    EXPECT_EQ(ask("POST", "/v1/echo",
                  token + "Origin: http://127.0.0.1:" + std::to_string(port) + "\r\n"),
              200);
  }
};

TEST_F(DashboardTcpTest, ThePageNeedsNoTokenTheApiDoes) { Check(/*public_read=*/false); }

TEST_F(DashboardTcpTest, PublicReadOpensGetsButNotChanges) { Check(/*public_read=*/true); }

TEST_F(ApiServerTest, TcpWithoutTokenRefusesCrossOriginPosts) {
  StartServer({}, /*unix_socket=*/false);
  ASSERT_TRUE(server_->ListenTcp("127.0.0.1:0"));
  const int port = *server_->tcp_port();
  RunLoop();
  auto post = [&](const std::string& extra) {
    RawConnection raw = RawConnection::Tcp(port);
    EXPECT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", "{}", extra)));
    auto response = raw.ReadResponse();
    return response;
  };
  auto refused = post("Origin: http://evil.example\r\n");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("cross-origin request refused"), std::string::npos);
  EXPECT_EQ(post("Origin: http://localhost\r\n")->status, 200);  // Request() sends Host: localhost
  EXPECT_EQ(post("")->status, 200);
}

TEST_F(ApiServerTest, TheUnixSocketRefusesCrossOriginPostsToo) {
  StartServer();
  RunLoop();
  auto post = [&](const std::string& extra) {
    RawConnection raw = RawConnection::Unix(socket_path_);
    EXPECT_TRUE(raw.Send(Request("POST", "/v1/echo", "application/json", "{}", extra)));
    auto response = raw.ReadResponse();
    return response ? response->status : -1;
  };
  EXPECT_EQ(post("Origin: http://evil.example\r\n"), 403);  // a page, through a tunnel
  EXPECT_EQ(post("Sec-Fetch-Site: cross-site\r\n"), 403);
  EXPECT_EQ(post("Origin: http://localhost\r\n"), 200);  // Request() sends Host: localhost
  EXPECT_EQ(post(""), 200);                              // the CLI, curl
}

TEST_F(ApiServerTest, NotModifiedHasNoBody) {
  router_.Add("GET", "/v1/same", [](const HttpRequest&, const PathParams&) -> HandlerResult {
    HttpResponse r;
    r.status = 304;
    r.headers["ETag"] = "\"x\"";
    r.body = "never sent";
    return r;
  });
  StartServer();
  RunLoop();
  RawConnection raw = RawConnection::Unix(socket_path_);
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/same", "", "")));
  auto response = raw.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 304);
  EXPECT_EQ(response->headers.count("content-length"), 0u);
  EXPECT_EQ(response->headers["etag"], "\"x\"");
  // The connection goes on: the next response is the next thing on it (no stray body).
  ASSERT_TRUE(raw.Send(Request("GET", "/v1/services/z/logs", "", "")));
  auto next = raw.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(nlohmann::json::parse(next->body)["name"], "z");
}

TEST_F(ApiServerTest, TcpOffLoopbackWithoutTokenIsRefused) {
  StartServer({}, /*unix_socket=*/false);
  Result<void> listening = server_->ListenTcp("0.0.0.0:0");
  ASSERT_FALSE(listening);
  EXPECT_EQ(listening.error().code, ErrorCode::kRefused);
  EXPECT_FALSE(server_->tcp_port());
  EXPECT_FALSE(server_->ListenTcp("not-an-address:80"));
  EXPECT_FALSE(server_->ListenTcp("127.0.0.1"));
  EXPECT_FALSE(server_->ListenTcp("127.0.0.1:70000"));
}

TEST_F(ApiServerTest, TcpOffLoopbackWithTokenListens) {
  ApiServerOptions options;
  options.token = "t";
  StartServer(options, /*unix_socket=*/false);
  Result<void> listening = server_->ListenTcp("0.0.0.0:0");
  ASSERT_TRUE(listening) << listening.error().message;
  EXPECT_TRUE(server_->tcp_port());
}

TEST_F(ApiServerTest, TcpLoopbackWithoutTokenRejectsForeignHostHeader) {
  StartServer({}, /*unix_socket=*/false);
  ASSERT_TRUE(server_->ListenTcp("localhost:0"));
  int port = *server_->tcp_port();
  RunLoop();
  auto ask = [&](const std::string& host) {
    RawConnection raw = RawConnection::Tcp(port);
    EXPECT_TRUE(raw.Send("GET /v1/services/x/logs HTTP/1.1\r\nHost: " + host + "\r\n\r\n"));
    auto response = raw.ReadResponse();
    return response ? response->status : -1;
  };
  EXPECT_EQ(ask("evil.example:" + std::to_string(port)), 403);
  EXPECT_EQ(ask("localhost:" + std::to_string(port)), 200);
  EXPECT_EQ(ask("127.0.0.1:" + std::to_string(port)), 200);
  EXPECT_EQ(ask("[::1]:" + std::to_string(port)), 200);
}

TEST_F(ApiServerTest, ClientWithoutDaemonSaysSo) {
  auto response = Client().Request("GET", "/v1/status");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(response.error().message,
            "the vramguard daemon is not running (no socket at " + socket_path_ + ")");
  EXPECT_EQ(response.error().hint, "start it with `vramguard up`");
  Result<void> streamed = Client().Stream("/v1/events", [](std::string_view) { return true; });
  ASSERT_FALSE(streamed);
  EXPECT_EQ(streamed.error().code, ErrorCode::kNotFound);
}

TEST_F(ApiServerTest, ClientWithoutPermissionNamesThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores socket permissions";
  StartServer();
  RunLoop();
  ASSERT_EQ(::chmod(socket_path_.c_str(), 0), 0);
  auto response = Client().Request("GET", "/v1/services/x/logs");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(response.error().message.find(socket_path_), std::string::npos);
}

TEST_F(ApiServerTest, ClientTimesOut) {
  // A listener that accepts (the kernel does, from the backlog) but never answers.
  std::filesystem::create_directories(dir_ + "/run");
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket_path_.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  auto start = std::chrono::steady_clock::now();
  auto response = Client().Request("GET", "/v1/status", std::nullopt, 50ms);
  ::close(fd);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace vg
