// ReverseProxy against a real service on loopback: a blocking test server on its own threads
// plays the service byte by byte, clients are raw sockets (testing::RawConnection), the proxy
// runs on an io_context thread.
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "api/raw_http_test_util.h"

namespace vg {
namespace {

using namespace std::chrono_literals;
using testing::RawConnection;
using PxClock = std::chrono::steady_clock;

// A request as the test service reads it.
struct PxRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined with ", "
  std::string head;                            // raw
};

// One accepted connection of the test service: blocking reads with poll() deadlines.
class PxPeer {
 public:
  explicit PxPeer(int fd) : fd_(fd) {}

  bool ReadHead(PxRequest* out, std::chrono::milliseconds timeout = 5000ms) {
    std::size_t end;
    auto deadline = PxClock::now() + timeout;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return false;
    }
    out->head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    std::size_t eol = out->head.find("\r\n");
    std::string line = out->head.substr(0, eol);
    out->method = line.substr(0, line.find(' '));
    out->target = line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1);
    for (std::size_t pos = eol + 2; pos < end;) {
      std::size_t next = out->head.find("\r\n", pos);
      std::string field = out->head.substr(pos, next - pos);
      pos = next + 2;
      std::size_t colon = field.find(':');
      if (colon == std::string::npos) continue;
      std::string name = field.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = field.substr(field.find_first_not_of(' ', colon + 1));
      auto [it, inserted] = out->headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    return true;
  }

  bool ReadExactly(std::size_t n, std::string* out) {
    auto deadline = PxClock::now() + 10s;
    while (buffer_.size() < n) {
      if (!Fill(deadline)) return false;
    }
    *out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
  }

  bool ReadUntil(std::string_view needle, std::string* out) {
    auto deadline = PxClock::now() + 10s;
    std::size_t at;
    while ((at = buffer_.find(needle)) == std::string::npos) {
      if (!Fill(deadline)) return false;
    }
    *out = buffer_.substr(0, at + needle.size());
    buffer_.erase(0, at + needle.size());
    return true;
  }

  // Counts (and drops) n body bytes as they arrive; `first` is set at the first one.
  bool Discard(std::size_t n, PxClock::time_point* first) {
    auto deadline = PxClock::now() + 20s;
    std::size_t got = 0;
    while (got + buffer_.size() < n) {
      got += buffer_.size();
      if (!buffer_.empty() && first->time_since_epoch().count() == 0) *first = PxClock::now();
      buffer_.clear();
      if (!Fill(deadline)) return false;
    }
    if (first->time_since_epoch().count() == 0) *first = PxClock::now();
    buffer_.erase(0, n - got);
    return true;
  }

  bool Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // True when the peer closes before the timeout.
  bool WaitForEof(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = PxClock::now() + timeout;
    while (Fill(deadline)) {
    }
    return eof_;
  }

  std::string& buffer() { return buffer_; }
  bool Fill(PxClock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - PxClock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

 private:
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

// The service: a loopback listener whose every connection runs `serve` on a thread of its own.
class PxUpstream {
 public:
  explicit PxUpstream(std::function<void(PxPeer&)> serve) : serve_(std::move(serve)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::listen(listen_fd_, 64);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~PxUpstream() {
    stop_ = true;
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] {
        PxPeer peer(fd);
        serve_(peer);
        ::shutdown(fd, SHUT_WR);
      });
    }
  }

  std::function<void(PxPeer&)> serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

// Answers every request on the connection with 200 and a body describing what arrived.
void PxEchoService(PxPeer& peer) {
  for (PxRequest request; peer.ReadHead(&request); request = {}) {
    std::string body;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      if (!peer.ReadExactly(std::stoul(it->second), &body)) return;
    }
    std::string text = request.method + " " + request.target + " body=" + body;
    for (const char* name : {"x-forwarded-for", "x-forwarded-proto", "via", "connection",
                             "keep-alive", "x-hop", "x-kept", "upgrade", "expect"}) {
      if (auto it = request.headers.find(name); it != request.headers.end()) {
        text += std::string("\n") + name + "=" + it->second;
      }
    }
    if (!peer.Write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Hop: answer\r\n"
                    "Connection: X-Hop\r\nContent-Length: " +
                    std::to_string(text.size()) + "\r\n\r\n" + text)) {
      return;
    }
  }
}

// A free port nobody listens on.
int PxClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Polls `f` on the proxy's thread until it returns `want` or 3 s passed; returns the last value.
// (The proxy reports a request's end, and pools its upstream connection, just after the
// response is written: a client may read it first.)
template <class F, class T>
T PxEventually(F f, const T& want) {
  T got = f();
  for (auto deadline = PxClock::now() + 3s; got != want && PxClock::now() < deadline; got = f()) {
    std::this_thread::sleep_for(1ms);
  }
  return got;
}

long PxRssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// Records what the proxy told it; holds or answers as told.
class PxFakePolicy : public ProxyPolicy {
 public:
  enum class Mode { kForward, kHold, kAnswer503 };
  explicit PxFakePolicy(Mode mode) : mode_(mode) {}

  ProxyVerdict Decide(const ProxyRequestHead& head, ProxyRelease release) override {
    std::lock_guard lock(mutex_);
    decided_.push_back(head.method + " " + head.target);
    if (mode_ == Mode::kAnswer503) {
      HttpResponse r = HttpResponse::Error(503, "the GPU is busy", "try again");
      r.headers["Retry-After"] = "7";
      return ProxyVerdict::Answer(r);
    }
    if (mode_ == Mode::kHold) {
      releases_.push_back(std::move(release));
      held_.notify_all();
      return ProxyVerdict::Hold();
    }
    return ProxyVerdict::Forward();
  }
  void OnRequestStart(const ProxyRequestHead&) override {
    std::lock_guard lock(mutex_);
    ++starts_;
  }
  void OnRequestEnd(const ProxyRequestHead&, const ProxyRequestEnd& end) override {
    std::lock_guard lock(mutex_);
    ends_.push_back(end);
  }

  // Waits until `n` requests are held; returns the n-th release.
  ProxyRelease WaitHeld(std::size_t n) {
    std::unique_lock lock(mutex_);
    held_.wait_for(lock, 5s, [&] { return releases_.size() >= n; });
    return releases_.size() >= n ? releases_[n - 1] : ProxyRelease{};
  }
  int starts() {
    std::lock_guard lock(mutex_);
    return starts_;
  }
  std::vector<ProxyRequestEnd> ends() {
    std::lock_guard lock(mutex_);
    return ends_;
  }

 private:
  Mode mode_;
  std::mutex mutex_;
  std::condition_variable held_;
  std::vector<std::string> decided_;
  std::vector<ProxyRelease> releases_;
  std::vector<ProxyRequestEnd> ends_;
  int starts_ = 0;
};

class ProxyTest : public ::testing::Test {
 protected:
  void StartProxy(int upstream_port, std::shared_ptr<ProxyPolicy> policy = nullptr,
                  ProxyOptions options = {}) {
    options.service = "i2v";
    options.upstream_port = upstream_port;
    proxy_ = std::make_unique<ReverseProxy>(io_, options, std::move(policy));
    auto listening = proxy_->Listen("127.0.0.1:0");
    ASSERT_TRUE(listening) << listening.error().message;
    runner_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (runner_.joinable()) {
      boost::asio::post(io_, [this] { proxy_->Stop(); });
      work_.reset();
      io_.stop();
      runner_.join();
    }
    proxy_.reset();
  }

  // Runs `f` on the proxy's thread and waits for it.
  template <class F>
  auto OnLoop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

  RawConnection Client() { return RawConnection::Tcp(*proxy_->port()); }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<ReverseProxy> proxy_;
  std::thread runner_;
};

TEST_F(ProxyTest, GetAndPostRoundTripWithForwardingHeaders) {
  PxUpstream service(PxEchoService);
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("GET /hello?x=1 HTTP/1.1\r\nHost: webui\r\nConnection: keep-alive, X-Hop\r\n"
                  "Keep-Alive: timeout=5\r\nX-Hop: drop me\r\nX-Kept: yes\r\n\r\n"));
  auto get = client.ReadResponse();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_NE(get->body.find("GET /hello?x=1 body="), std::string::npos) << get->body;
  EXPECT_NE(get->body.find("x-forwarded-for=127.0.0.1"), std::string::npos) << get->body;
  EXPECT_NE(get->body.find("x-forwarded-proto=http"), std::string::npos) << get->body;
  EXPECT_NE(get->body.find("via=1.1 vramguard"), std::string::npos) << get->body;
  EXPECT_NE(get->body.find("x-kept=yes"), std::string::npos) << get->body;
  // Hop-by-hop: Connection, Keep-Alive and the fields Connection names stay on their hop.
  EXPECT_EQ(get->body.find("x-hop="), std::string::npos) << get->body;
  EXPECT_EQ(get->body.find("keep-alive="), std::string::npos) << get->body;
  EXPECT_EQ(get->body.find("connection="), std::string::npos) << get->body;
  EXPECT_EQ(get->headers.count("x-hop"), 0u);  // named by the service's Connection
  EXPECT_EQ(get->headers["via"], "1.1 vramguard");

  std::string payload = "{\"prompt\": \"a cat\"}";
  ASSERT_TRUE(
      client.Send("POST /run HTTP/1.1\r\nHost: webui\r\nX-Forwarded-For: 10.0.0.9\r\n"
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(payload.size()) + "\r\n\r\n" + payload));
  auto post = client.ReadResponse();
  ASSERT_TRUE(post);
  // A Connection header naming the framing field does not unframe the body.
  ASSERT_TRUE(
      client.Send("POST /framed HTTP/1.1\r\nHost: webui\r\nConnection: Content-Length\r\n"
                  "Content-Length: 4\r\n\r\nbody"));
  auto framed = client.ReadResponse();
  ASSERT_TRUE(framed);
  EXPECT_NE(framed->body.find("POST /framed body=body"), std::string::npos) << framed->body;
  EXPECT_EQ(post->status, 200);
  EXPECT_NE(post->body.find("POST /run body=" + payload), std::string::npos) << post->body;
  EXPECT_NE(post->body.find("x-forwarded-for=10.0.0.9, 127.0.0.1"), std::string::npos)
      << post->body;
}

TEST_F(ProxyTest, KeepAliveReusesOneUpstreamConnection) {
  PxUpstream service(PxEchoService);
  StartProxy(service.port());
  {
    RawConnection client = Client();
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(client.Send("GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto response = client.ReadResponse();
      ASSERT_TRUE(response) << "request " << i;
      ASSERT_NE(response->body.find("GET /n/" + std::to_string(i) + " "), std::string::npos);
    }
    EXPECT_EQ(OnLoop([this] { return proxy_->connection_count(); }), 1u);
  }
  // Another client later: the kept-alive upstream connection again (back in the pool once the
  // first client left, and back again once the second leaves).
  EXPECT_EQ(
      PxEventually([this] { return OnLoop([this] { return proxy_->idle_upstream_count(); }); },
                   std::size_t{1}),
      1u);
  {
    RawConnection second = Client();
    ASSERT_TRUE(second.Send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(second.ReadResponse());
  }
  EXPECT_EQ(service.accepted(), 1);
  EXPECT_EQ(
      PxEventually([this] { return OnLoop([this] { return proxy_->idle_upstream_count(); }); },
                   std::size_t{1}),
      1u);
}

// A large body of a known length moves socket to socket (splice) — every byte, in order, also
// when the service sends it in uneven pieces with pauses — and the connections go on after it.
TEST_F(ProxyTest, LargeBodyOfAKnownLengthArrivesWholeAndTheConnectionsGoOn) {
  const std::size_t size = 3 * 1024 * 1024 + 17;
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>((i * 2654435761u) >> 24);
  PxUpstream service([&](PxPeer& peer) {
    for (int round = 0; round < 2; ++round) {
      PxRequest request;
      if (!peer.ReadHead(&request)) return;
      if (request.head.rfind("GET /big", 0) == 0) {
        // The head with the first bytes in one write, the rest in pieces, one pause.
        std::string head =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
        if (!peer.Write(head + body.substr(0, 1000))) return;
        for (std::size_t at = 1000; at < size; at += 300'001) {
          if (at > 2'000'000 && at < 2'300'001) std::this_thread::sleep_for(50ms);
          if (!peer.Write(std::string_view(body).substr(at, 300'001))) return;
        }
      } else {
        peer.Write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall");
      }
    }
  });
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto big = client.ReadResponse(10000ms);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 200);
  ASSERT_EQ(big->body.size(), size);
  EXPECT_TRUE(big->body == body);
  // The same client connection, and the service's, serve the next request.
  ASSERT_TRUE(client.Send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto small = client.ReadResponse();
  ASSERT_TRUE(small);
  EXPECT_EQ(small->body, "small");
  EXPECT_EQ(service.accepted(), 1);
}

TEST_F(ProxyTest, ALargeBodyTheServiceCutsShortClosesTheClient) {
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    peer.Write("HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n" + std::string(600'000, 'x'));
    // and closes: 3.4 MB never come
  });
  auto policy = std::make_shared<PxFakePolicy>(PxFakePolicy::Mode::kForward);
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(client.WaitForClose(5000ms));  // the client sees the body end early, not a hang
  PxEventually([&] { return policy->ends().size(); }, std::size_t{1});
  auto ends = policy->ends();
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].bytes_down, 600'000u);
  EXPECT_NE(ends[0].error.find("broke off"), std::string::npos) << ends[0].error;
}

TEST_F(ProxyTest, ChunkedResponseArrivesIncrementally) {
  std::promise<void> client_saw_first;
  auto saw_first = client_saw_first.get_future();
  std::atomic<std::int64_t> first_sent_ns{0};
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    peer.Write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
    first_sent_ns = PxClock::now().time_since_epoch().count();
    peer.Write("5\r\nfirst\r\n");
    // The last chunk only once the client has the first: a proxy that buffers never gets here.
    if (saw_first.wait_for(5s) != std::future_status::ready) return;
    peer.Write("4\r\nlast\r\n0\r\n\r\n");
  });
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(client.ReadUntil("first", 3000ms)) << "the first chunk did not arrive on its own";
  auto latency = PxClock::now().time_since_epoch().count() - first_sent_ns.load();
  client_saw_first.set_value();
  std::printf("first chunk through the proxy after %.3f ms\n", static_cast<double>(latency) / 1e6);
  RecordProperty("first_chunk_us", static_cast<int>(latency / 1000));
  ASSERT_TRUE(client.ReadUntil("0\r\n\r\n", 3000ms));
  EXPECT_NE(client.buffered().find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(client.buffered().find("4\r\nlast\r\n"), std::string::npos) << client.buffered();
}

TEST_F(ProxyTest, Http10ClientGetsAChunkedAnswerUnchunked) {
  PxUpstream service([](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    peer.Write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  });
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\nHost: x\r\n\r\n"));
  auto response = client.ReadResponse();  // delimited by the proxy closing
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->headers["transfer-encoding"], "");
  EXPECT_EQ(response->body, "abcde");
}

TEST_F(ProxyTest, ServerSentEventsArriveOneByOne) {
  constexpr int kEvents = 5;
  std::vector<std::promise<void>> seen(kEvents);
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    // Delimited by closing (no Content-Length, not chunked), as many event servers do.
    peer.Write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: close\r\n\r\n");
    for (int i = 0; i < kEvents; ++i) {
      peer.Write("data: {\"n\": " + std::to_string(i) + "}\n\n");
      if (seen[i].get_future().wait_for(5s) != std::future_status::ready) return;
    }
  });
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("GET /queue/data HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"));
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(client.ReadUntil("data: {\"n\": " + std::to_string(i) + "}\n\n", 3000ms))
        << "event " << i << " did not arrive before the next was sent";
    seen[i].set_value();
  }
  ASSERT_TRUE(client.ReadUntil("0\r\n\r\n", 3000ms));  // the service closed: the chunked end
  EXPECT_NE(client.buffered().find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(client.buffered().find("text/event-stream"), std::string::npos);
}

TEST_F(ProxyTest, LargeUploadIsStreamedNotBuffered) {
  constexpr std::size_t kSize = 50u << 20;
  std::atomic<std::size_t> client_sent{0};
  std::atomic<std::size_t> sent_when_service_started{0};
  PxClock::time_point service_first_byte{};
  std::atomic<bool> service_done{false};
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    // Read nothing for a while: a proxy that streams stops the client (backpressure).
    std::this_thread::sleep_for(300ms);
    sent_when_service_started = client_sent.load();
    if (!peer.Discard(std::stoul(request.headers["content-length"]), &service_first_byte)) return;
    service_done = true;
    peer.Write("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  });
  StartProxy(service.port());
  long rss_before = PxRssKiB();
  std::atomic<long> rss_peak{rss_before};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      rss_peak = std::max(rss_peak.load(), PxRssKiB());
      std::this_thread::sleep_for(5ms);
    }
  });
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                  "Content-Length: " +
                  std::to_string(kSize) + "\r\n\r\n"));
  std::string piece(256 * 1024, 'p');
  bool sent_all = true;
  for (std::size_t sent = 0; sent < kSize && sent_all; sent += piece.size()) {
    sent_all = client.Send(piece);
    client_sent += piece.size();
  }
  PxClock::time_point client_done = PxClock::now();
  auto response = client.ReadResponse(20000ms);
  sampling = false;
  sampler.join();
  ASSERT_TRUE(sent_all);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  EXPECT_TRUE(service_done);
  EXPECT_LT(service_first_byte, client_done) << "the service saw nothing before the upload ended";
  // While the service read nothing, the client could only fill the socket buffers.
  EXPECT_LT(sent_when_service_started.load(), kSize / 2);
  EXPECT_LT(rss_peak - rss_before, 16 * 1024) << "KiB of resident memory more during the upload";
  std::printf("upload: client had sent %zu MiB when the service began reading; RSS +%ld KiB\n",
              sent_when_service_started.load() >> 20, rss_peak - rss_before);
}

TEST_F(ProxyTest, ChunkedUploadStaysChunked) {
  std::string seen_head, seen_body;
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    seen_head = request.head;
    if (!peer.ReadUntil("0\r\n\r\n", &seen_body)) return;
    peer.Write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("PUT /blob HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  auto interim = client.ReadResponse();  // the proxy answers the Expect itself
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(seen_head.find("Transfer-Encoding: chunked"), std::string::npos) << seen_head;
  EXPECT_EQ(seen_head.find("Expect"), std::string::npos) << seen_head;
  std::string decoded;
  for (std::size_t pos = 0;;) {  // the chunk boundaries may differ; the content may not
    std::size_t eol = seen_body.find("\r\n", pos);
    std::size_t size = std::stoul(seen_body.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) break;
    decoded += seen_body.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  EXPECT_EQ(decoded, "abcdefg");
}

TEST_F(ProxyTest, WebSocketUpgradeIsSplicedBothWays) {
  std::string upgrade_head;
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    upgrade_head = request.head;
    // The 101 and the service's first frame in one write: the proxy must pass on both.
    std::string hello = "\x81\x05hello";
    peer.Write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" +
        hello);
    // Then echo every byte until the client leaves.
    while (peer.Fill(PxClock::now() + 5s)) {
      std::string bytes = std::move(peer.buffer());
      peer.buffer().clear();
      if (!peer.Write(bytes)) return;
    }
  });
  auto policy = std::make_shared<PxFakePolicy>(PxFakePolicy::Mode::kForward);
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  auto switched = client.ReadResponse();
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 101);
  EXPECT_EQ(switched->headers["upgrade"], "websocket");
  EXPECT_EQ(switched->headers["connection"], "upgrade");
  ASSERT_TRUE(client.ReadUntil("\x81\x05hello", 3000ms));
  // A masked text frame "ping" (mask 0x01020304), echoed back byte for byte.
  std::string frame = "\x81\x84\x01\x02\x03\x04";
  const char* text = "ping";
  const unsigned char mask[4] = {1, 2, 3, 4};
  for (int i = 0; i < 4; ++i) frame += static_cast<char>(text[i] ^ mask[i]);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(client.Send(frame));
    ASSERT_TRUE(client.ReadUntil(frame, 3000ms)) << "round " << round;
    client.buffered().clear();
  }
  EXPECT_NE(upgrade_head.find("Upgrade: websocket"), std::string::npos) << upgrade_head;
  EXPECT_NE(upgrade_head.find("Connection: upgrade"), std::string::npos) << upgrade_head;
  EXPECT_NE(upgrade_head.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), std::string::npos);
  client.ShutdownSend();
  EXPECT_TRUE(client.WaitForClose(3000ms));  // the service's side ends too
  PxEventually([&] { return policy->ends().size(); }, std::size_t{1});
  auto ends = policy->ends();
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_TRUE(ends[0].upgraded);
  EXPECT_EQ(ends[0].status, 101);
  EXPECT_EQ(ends[0].error, "");
  EXPECT_EQ(ends[0].bytes_up, 3 * frame.size());
  EXPECT_EQ(ends[0].bytes_down, 7 + 3 * frame.size());  // the service's hello, then the echoes
}

// A tap that keeps every client byte until the test sends them on, and tags the service's bytes.
class PxTap : public ProxyTunnelTap {
 public:
  void Start(ProxyTunnelControl control) override {
    std::lock_guard lock(mutex_);
    control_ = std::move(control);
  }
  std::string FromClient(std::string_view bytes) override {
    std::lock_guard lock(mutex_);
    kept_.append(bytes);
    return {};
  }
  std::string FromService(std::string_view bytes) override {
    return "<" + std::string(bytes) + ">";
  }
  void Closed() override {
    std::lock_guard lock(mutex_);
    ++closed_;
  }
  std::string kept() {
    std::lock_guard lock(mutex_);
    return kept_;
  }
  ProxyTunnelControl control() {
    std::lock_guard lock(mutex_);
    return control_;
  }
  int closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  std::mutex mutex_;
  ProxyTunnelControl control_;
  std::string kept_;
  int closed_ = 0;
};

class PxTapPolicy : public PxFakePolicy {
 public:
  PxTapPolicy() : PxFakePolicy(Mode::kForward) {}
  std::shared_ptr<ProxyTunnelTap> TapTunnel(const ProxyRequestHead& head) override {
    return head.target == "/tapped" ? tap : nullptr;
  }
  std::shared_ptr<PxTap> tap = std::make_shared<PxTap>();
};

TEST_F(ProxyTest, TappedTunnelHoldsBytesSendsItsOwnAndCloses) {
  std::string upgrade_head;
  std::string received;
  std::mutex mutex;
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    {
      std::lock_guard lock(mutex);
      upgrade_head = request.head;
    }
    peer.Write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        "hi");
    while (peer.Fill(PxClock::now() + 5s)) {
      std::string bytes = std::move(peer.buffer());
      peer.buffer().clear();
      {
        std::lock_guard lock(mutex);
        received += bytes;
      }
      if (!peer.Write(bytes)) return;  // echoed: the tap tags it on the way back
    }
  });
  auto policy = std::make_shared<PxTapPolicy>();
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("GET /tapped HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  auto switched = client.ReadResponse();
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 101);
  ASSERT_TRUE(client.ReadUntil("<hi>", 3000ms));  // the service's bytes through the tap
  ASSERT_TRUE(client.Send("held-1"));
  PxEventually([&] { return policy->tap->kept(); }, std::string("held-1"));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(received, "");  // kept back
    // No compression offered to the service: the tap must read the frames.
    EXPECT_EQ(upgrade_head.find("Sec-WebSocket-Extensions"), std::string::npos) << upgrade_head;
  }
  // The tap sends the kept bytes on and a message of its own to the client.
  ProxyTunnelControl control = policy->tap->control();
  boost::asio::post(io_, [control] { control.send("held-1", "[door]"); });
  ASSERT_TRUE(client.ReadUntil("[door]", 3000ms));
  ASSERT_TRUE(client.ReadUntil("<held-1>", 3000ms));  // reached the service, echoed
  // Then it closes the tunnel after a last message.
  boost::asio::post(io_, [control] {
    control.send("", "[bye]");
    control.close();
  });
  ASSERT_TRUE(client.ReadUntil("[bye]", 3000ms));
  EXPECT_TRUE(client.WaitForClose(3000ms));
  PxEventually([&] { return policy->ends().size(); }, std::size_t{1});
  EXPECT_EQ(policy->tap->closed(), 1);
  auto ends = policy->ends();
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_TRUE(ends[0].upgraded);
  EXPECT_EQ(ends[0].bytes_up, 6u);
  EXPECT_EQ(ends[0].bytes_down, 4u + 6u + 8u + 5u);
  // After the tunnel ended, the control does nothing.
  boost::asio::post(io_, [control] { control.send("late", "late"); });
}

TEST_F(ProxyTest, TapOfAnUpgradeTheServiceRefusesIsClosedOnce) {
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    peer.Write("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
  });
  auto policy = std::make_shared<PxTapPolicy>();
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("GET /tapped HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\n\r\n"));
  auto answer = client.ReadResponse();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 403);
  PxEventually([&] { return policy->ends().size(); }, std::size_t{1});
  EXPECT_EQ(policy->tap->closed(), 1);
  EXPECT_FALSE(policy->ends()[0].upgraded);
}

TEST_F(ProxyTest, ServiceDownIs502NamingTheService) {
  StartProxy(PxClosedPort());
  RawConnection client = Client();
  for (int i = 0; i < 2; ++i) {  // the connection stays usable
    ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 502);
    EXPECT_EQ(response->headers["content-type"], "application/json");
    EXPECT_NE(response->body.find("the service 'i2v' is not answering on 127.0.0.1:"),
              std::string::npos)
        << response->body;
    EXPECT_NE(response->body.find("vramguard start i2v"), std::string::npos) << response->body;
    EXPECT_EQ(response->body.find('\n'), std::string::npos);  // one line
  }
}

TEST_F(ProxyTest, ServiceThatAcceptsNothingIs502AfterTheConnectTimeout) {
  // A listener that never accepts, its queue full: the kernel drops further connection attempts.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::listen(listener, 0);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    // Non-blocking: EINPROGRESS, or a refusal once the backlog is full; either is what we want.
    const int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    EXPECT_TRUE(connected == 0 || errno == EINPROGRESS || errno == EAGAIN) << errno;
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);
  ProxyOptions options;
  options.connect_timeout = 300ms;
  StartProxy(ntohs(address.sin_port), nullptr, options);
  RawConnection client = Client();
  auto start = PxClock::now();
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = client.ReadResponse();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
  EXPECT_NE(response->body.find("did not accept a connection on 127.0.0.1:"), std::string::npos)
      << response->body;
  EXPECT_NE(response->body.find("within 300 ms"), std::string::npos) << response->body;
  EXPECT_GE(PxClock::now() - start, 290ms);
}

TEST_F(ProxyTest, MalformedAnswersAre502) {
  std::atomic<int> served{0};
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    if (served++ == 0) {  // a chunk size that is not hex, with the head
      peer.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n");
    } else {  // a head over the limit
      peer.Write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
    }
    peer.WaitForEof(2000ms);
  });
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto bad_chunk = client.ReadResponse();
  ASSERT_TRUE(bad_chunk);
  EXPECT_EQ(bad_chunk->status, 502);
  EXPECT_NE(bad_chunk->body.find("sent a malformed answer"), std::string::npos) << bad_chunk->body;
  ASSERT_TRUE(client.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));  // still usable
  auto big_head = client.ReadResponse();
  ASSERT_TRUE(big_head);
  EXPECT_EQ(big_head->status, 502);
  EXPECT_NE(big_head->body.find("answered with headers larger than 16384 bytes"), std::string::npos)
      << big_head->body;
}

TEST_F(ProxyTest, SilentServiceIs504AfterTheUpstreamTimeout) {
  PxUpstream service([](PxPeer& peer) {
    PxRequest request;
    peer.ReadHead(&request);
    peer.WaitForEof(3000ms);  // never answers
  });
  ProxyOptions options;
  options.upstream_timeout = 200ms;
  StartProxy(service.port(), nullptr, options);
  RawConnection client = Client();
  auto start = PxClock::now();
  ASSERT_TRUE(client.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 504);
  EXPECT_NE(response->body.find("sent no answer within 200 ms"), std::string::npos)
      << response->body;
  EXPECT_GE(PxClock::now() - start, 190ms);
}

TEST_F(ProxyTest, IdleAndSlowClientsAreClosedAfterTheIdleTimeout) {
  PxUpstream service(PxEchoService);
  ProxyOptions options;
  options.idle_timeout = 200ms;
  StartProxy(service.port(), nullptr, options);
  auto start = PxClock::now();
  RawConnection idle = Client();
  RawConnection slow = Client();
  ASSERT_TRUE(slow.Send("GET / HTTP/1.1\r\nHost: x\r\n"));  // half a head, then nothing
  EXPECT_TRUE(idle.WaitForClose(3000ms));
  EXPECT_TRUE(slow.WaitForClose(3000ms));
  EXPECT_GE(PxClock::now() - start, 190ms);
  EXPECT_EQ(OnLoop([this] { return proxy_->connection_count(); }), 0u);
}

TEST_F(ProxyTest, OversizeHeaderIs431) {
  PxUpstream service(PxEchoService);
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(
      client.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(client.WaitForClose(3000ms));
  EXPECT_EQ(service.accepted(), 0);
}

TEST_F(ProxyTest, ConnectionsBeyondTheLimitGet503) {
  PxUpstream service(PxEchoService);
  ProxyOptions options;
  options.max_connections = 1;
  StartProxy(service.port(), nullptr, options);
  RawConnection first = Client();
  ASSERT_TRUE(first.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(first.ReadResponse());
  RawConnection second = Client();
  auto refused = second.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
}

TEST_F(ProxyTest, ListeningWhereSomeoneElseListensIsRefused) {
  PxUpstream service(PxEchoService);
  ReverseProxy proxy(io_, ProxyOptions{.service = "i2v", .upstream_port = service.port()});
  auto busy = proxy.Listen("127.0.0.1:" + std::to_string(service.port()));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kRefused);
  EXPECT_EQ(busy.error().message, "the proxy of 'i2v' cannot listen on 127.0.0.1:" +
                                      std::to_string(service.port()) + ": the address is in use");
  auto name = proxy.Listen("example.com:7860");
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(proxy.port());
}

TEST_F(ProxyTest, StopClosesClientConnections) {
  PxUpstream service(PxEchoService);
  StartProxy(service.port());
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(client.ReadResponse());
  OnLoop([this] {
    proxy_->Stop();
    return 0;
  });
  EXPECT_TRUE(client.WaitForClose(3000ms));
  EXPECT_FALSE(RawConnection::Tcp(*proxy_->port()).connected());
}

TEST_F(ProxyTest, PolicyHoldsARequestThenReleasesIt) {
  PxUpstream service(PxEchoService);
  auto policy = std::make_shared<PxFakePolicy>(PxFakePolicy::Mode::kHold);
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("POST /run/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  ProxyRelease release = policy->WaitHeld(1);
  ASSERT_TRUE(release);
  // Held: nothing reaches the service, nothing comes back.
  EXPECT_FALSE(client.ReadResponse(200ms));
  EXPECT_EQ(service.accepted(), 0);
  EXPECT_EQ(policy->starts(), 1);
  EXPECT_TRUE(policy->ends().empty());
  boost::asio::post(io_, [release] { release(std::nullopt); });
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->body.find("POST /run/predict body=abc"), std::string::npos);
  EXPECT_EQ(service.accepted(), 1);

  // The next request held, then answered by the policy: the service is not contacted again.
  ASSERT_TRUE(client.Send("GET /queue HTTP/1.1\r\nHost: x\r\n\r\n"));
  ProxyRelease second = policy->WaitHeld(2);
  ASSERT_TRUE(second);
  boost::asio::post(io_, [second, release] {
    second(HttpResponse::Error(429, "queue full"));
    second(std::nullopt);   // later calls do nothing
    release(std::nullopt);  // nor a release of an ended request
  });
  auto refused = client.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_NE(refused->body.find("queue full"), std::string::npos);
  EXPECT_EQ(service.accepted(), 1);
  PxEventually([&] { return policy->ends().size(); }, std::size_t{2});
  auto ends = policy->ends();
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_TRUE(ends[0].forwarded);
  EXPECT_EQ(ends[0].status, 200);
  EXPECT_EQ(ends[0].bytes_up, 3u);
  EXPECT_FALSE(ends[1].forwarded);
  EXPECT_EQ(ends[1].status, 429);
}

TEST_F(ProxyTest, PolicyAnswersWithoutContactingTheService) {
  PxUpstream service(PxEchoService);
  auto policy = std::make_shared<PxFakePolicy>(PxFakePolicy::Mode::kAnswer503);
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.Send("GET /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 503);
    EXPECT_EQ(response->headers["retry-after"], "7");
    EXPECT_NE(response->body.find("the GPU is busy"), std::string::npos);
  }
  EXPECT_EQ(service.accepted(), 0);
  EXPECT_EQ(policy->starts(), 2);
  PxEventually([&] { return policy->ends().size(); }, std::size_t{2});
  auto ends = policy->ends();
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_FALSE(ends[0].forwarded);
}

TEST_F(ProxyTest, PolicySeesTheEndWhenAHeldClientLeaves) {
  PxUpstream service(PxEchoService);
  auto policy = std::make_shared<PxFakePolicy>(PxFakePolicy::Mode::kHold);
  StartProxy(service.port(), policy);
  {
    RawConnection client = Client();
    ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(policy->WaitHeld(1));
  }
  // Noticed while held (the socket is watched), not only when the proxy stops: a queued request
  // whose client left must not be released to the service later.
  PxEventually([&] { return policy->ends().size(); }, std::size_t{1});
  auto ends = OnLoop([&] { return policy->ends(); });
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].status, 0);
  EXPECT_FALSE(ends[0].forwarded);
  EXPECT_EQ(ends[0].error, "the client left while its request was held");
  EXPECT_EQ(service.accepted(), 0);
}

// A client that pipelines its next request while the first is held is not taken for one that
// left: both are answered once released.
TEST_F(ProxyTest, AHeldClientThatSendsMoreIsNotTakenForGone) {
  PxUpstream service(PxEchoService);
  auto policy = std::make_shared<PxFakePolicy>(PxFakePolicy::Mode::kHold);
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  ProxyRelease first_release = policy->WaitHeld(1);
  ASSERT_TRUE(first_release);
  ASSERT_TRUE(client.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(policy->ends().empty());
  boost::asio::post(io_, [first_release] { first_release(std::nullopt); });
  ProxyRelease second_release = policy->WaitHeld(2);
  ASSERT_TRUE(second_release);
  boost::asio::post(io_, [second_release] { second_release(std::nullopt); });
  auto first = client.ReadResponse();
  auto second = client.ReadResponse();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 200);
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// Asks to see bodies of up to `limit` bytes; records what Decide saw; forwards, adding a header.
class PxInspectPolicy : public ProxyPolicy {
 public:
  explicit PxInspectPolicy(std::size_t limit) : limit_(limit) {}
  std::size_t InspectBody(const ProxyRequestHead&) override { return limit_; }
  ProxyVerdict Decide(const ProxyRequestHead& head, ProxyRelease) override {
    std::lock_guard lock(mutex_);
    seen_.push_back(head.body_read ? head.body : "(not read)");
    return ProxyVerdict::Forward();
  }
  std::vector<std::pair<std::string, std::string>> ResponseHeaders(
      const ProxyRequestHead& head) override {
    return {{"X-Seen-Bytes", std::to_string(head.body.size())}};
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::size_t limit_;
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

TEST_F(ProxyTest, AnInspectedBodyIsReadWholeAndSentOnWithItsLength) {
  PxUpstream service(PxEchoService);
  auto policy = std::make_shared<PxInspectPolicy>(64);
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  // Chunked from the client, with 100-continue: the service gets the body whole, by length.
  ASSERT_TRUE(
      client.Send("POST /generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  auto interim = client.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("7\r\n{\"a\":1,\r\n5\r\n\"b\":2\r\n1\r\n}\r\n0\r\n\r\n"));
  auto answer = client.ReadResponse();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_NE(answer->body.find("POST /generate body={\"a\":1,\"b\":2}"), std::string::npos)
      << answer->body;
  EXPECT_EQ(answer->body.find("expect="), std::string::npos) << answer->body;
  EXPECT_EQ(answer->headers["x-seen-bytes"], "13");
  EXPECT_EQ(policy->seen(), (std::vector<std::string>{"{\"a\":1,\"b\":2}"}));
  // The connection goes on: a second request with a Content-Length.
  ASSERT_TRUE(client.Send("POST /again HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"));
  auto again = client.ReadResponse();
  ASSERT_TRUE(again);
  EXPECT_NE(again->body.find("POST /again body={}"), std::string::npos) << again->body;
}

TEST_F(ProxyTest, AnInspectedBodyOverTheLimitIs413AndNeverReachesTheService) {
  PxUpstream service(PxEchoService);
  auto policy = std::make_shared<PxInspectPolicy>(16);
  StartProxy(service.port(), policy);
  {  // Announced too large: answered before it is sent.
    RawConnection client = Client();
    ASSERT_TRUE(client.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n"));
    auto answer = client.ReadResponse();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 413);
    EXPECT_NE(answer->body.find("larger than 16 bytes"), std::string::npos) << answer->body;
  }
  {  // Chunked, growing past the limit while read.
    RawConnection client = Client();
    ASSERT_TRUE(
        client.Send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"));
    auto answer = client.ReadResponse();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 413);
  }
  EXPECT_EQ(service.accepted(), 0);
  EXPECT_TRUE(policy->seen().empty());
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// Records what WatchResponse's sink sees, and whether its end came before OnRequestEnd.
class PxWatchPolicy : public ProxyPolicy {
 public:
  ProxyVerdict Decide(const ProxyRequestHead&, ProxyRelease) override {
    return ProxyVerdict::Forward();
  }
  ProxyBodySink WatchResponse(const ProxyRequestHead& head, int status) override {
    std::lock_guard lock(mutex_);
    statuses_.push_back(head.target + " " + std::to_string(status));
    return [this](std::string_view piece, bool end) {
      std::lock_guard lock(mutex_);
      if (end) {
        ++sink_ends_;
      } else {
        seen_.append(piece);
      }
    };
  }
  void OnRequestEnd(const ProxyRequestHead&, const ProxyRequestEnd&) override {
    std::lock_guard lock(mutex_);
    ends_before_request_end_.push_back(sink_ends_);
    done_.notify_all();
  }
  bool WaitEnds(std::size_t n) {
    std::unique_lock lock(mutex_);
    return done_.wait_for(lock, 5s, [&] { return ends_before_request_end_.size() >= n; });
  }
  std::string seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::vector<int> ends_before_request_end() {
    std::lock_guard lock(mutex_);
    return ends_before_request_end_;
  }
  std::vector<std::string> statuses() {
    std::lock_guard lock(mutex_);
    return statuses_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::string seen_;
  int sink_ends_ = 0;
  std::vector<int> ends_before_request_end_;
  std::vector<std::string> statuses_;
};

TEST_F(ProxyTest, APolicyWatchesAResponseBodyDecodedAndEndedBeforeTheRequestEnds) {
  PxUpstream service([&](PxPeer& peer) {
    PxRequest request;
    if (!peer.ReadHead(&request)) return;
    peer.Write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        "14\r\ndata: {\"msg\": \"a\"}\n\n\r\n14\r\ndata: {\"msg\": \"b\"}\n\n\r\n0\r\n\r\n");
  });
  auto policy = std::make_shared<PxWatchPolicy>();
  StartProxy(service.port(), policy);
  RawConnection client = Client();
  ASSERT_TRUE(client.Send("GET /queue/data?session_hash=s HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto answer = client.ReadResponse();
  ASSERT_TRUE(answer);
  ASSERT_TRUE(policy->WaitEnds(1));
  // The payload without the chunk framing, whole; the sink ended once, before OnRequestEnd.
  EXPECT_EQ(policy->seen(), "data: {\"msg\": \"a\"}\n\ndata: {\"msg\": \"b\"}\n\n");
  EXPECT_EQ(policy->ends_before_request_end(), (std::vector<int>{1}));
  EXPECT_EQ(policy->statuses(), (std::vector<std::string>{"/queue/data?session_hash=s 200"}));
}

}  // namespace
}  // namespace vg
