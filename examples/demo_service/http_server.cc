#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace vg::demo {
namespace {

using SteadyClock = std::chrono::steady_clock;

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(const std::string& host, std::uint16_t port,
                                                       Options options) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "invalid host '" + host + "'",
                "give an IPv4 address such as 127.0.0.1 or 0.0.0.0");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::unexpected(ErrnoError("cannot create a socket", errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart over TIME_WAIT
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int err = errno;
    ::close(fd);
    Error error = ErrnoError("cannot bind " + host + ":" + std::to_string(port), err);
    if (err == EADDRINUSE) error.code = ErrorCode::kRefused;
    return std::unexpected(error);
  }
  if (::listen(fd, 128) != 0) {
    int err = errno;
    ::close(fd);
    return std::unexpected(ErrnoError("cannot listen on port " + std::to_string(port), err));
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return std::unique_ptr<HttpServer>(new HttpServer(fd, ntohs(address.sin_port), options));
}

HttpServer::~HttpServer() { Shutdown(); }

HttpServer::Wake HttpServer::AcceptUntil(Handler handler, int wake_fd,
                                         std::optional<TimePoint> deadline) {
  handler_ = std::move(handler);
  for (unsigned i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  for (;;) {
    int timeout = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - SteadyClock::now());
      if (left.count() <= 0) return Wake::kDeadline;
      timeout = static_cast<int>(std::min<long long>(left.count(), 60'000));
    }
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) return Wake::kWakeFd;  // cannot wait: behave as if told to stop
    if (n <= 0) continue;
    if (fds[1].revents != 0) return Wake::kWakeFd;
    if (fds[0].revents & POLLIN) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) Enqueue(fd);
    }
  }
}

void HttpServer::Enqueue(int fd) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < options_.max_queued) {
      queue_.emplace_back(fd, SteadyClock::now() + options_.read_timeout);
      queue_cv_.notify_one();
      return;
    }
  }
  WriteResponse(fd, ErrorResponse(503, "too many connections"), SteadyClock::now());
  ::close(fd);
}

void HttpServer::WorkerLoop() {
  for (;;) {
    int fd = -1;
    TimePoint deadline;
    {
      std::unique_lock lock(mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      std::tie(fd, deadline) = queue_.front();
      queue_.pop_front();
      active_.insert(fd);
    }
    auto takeover = Serve(fd, deadline);
    {
      std::lock_guard lock(mutex_);
      active_.erase(fd);
      if (takeover && !stopping_) {
        StartTakeover(fd, std::move(takeover->first), std::move(takeover->second));
        continue;
      }
    }
    ::close(fd);
  }
}

std::optional<std::pair<HttpResponse::Takeover, std::string>> HttpServer::Serve(
    int fd, TimePoint deadline) {
  std::string early;
  auto request = ReadRequest(fd, options_.limits, deadline, &early);
  if (!request && request.error().status == 0) return std::nullopt;  // the client went away
  HttpResponse response;
  if (!request) {
    response = ErrorResponse(request.error().status, request.error().message);
  } else {
    try {  // the boundary: nothing thrown below may take the worker down
      response = handler_(*request);
    } catch (const std::exception& e) {
      response = ErrorResponse(500, std::string("internal error: ") + e.what());
    }
  }
  if (response.takeover) return std::pair(std::move(response.takeover), std::move(early));
  WriteResponse(fd, response, SteadyClock::now() + options_.read_timeout);
  return std::nullopt;
}

void HttpServer::StartTakeover(int fd, HttpResponse::Takeover takeover, std::string early) {
  for (auto it = upgraded_.begin(); it != upgraded_.end();) {
    if (it->finished) {
      it->thread.join();
      it = upgraded_.erase(it);
    } else {
      ++it;
    }
  }
  Upgraded& slot = upgraded_.emplace_back();
  slot.fd = fd;
  slot.thread = std::thread(
      [this, &slot, fd, takeover = std::move(takeover), early = std::move(early)]() mutable {
        try {  // as for a handler: nothing thrown may end the process
          takeover(fd, std::move(early));
        } catch (const std::exception& e) {
          std::fprintf(stderr, "vg-demo-service: a connection's handler failed: %s\n", e.what());
        }
        std::lock_guard lock(mutex_);
        ::close(fd);
        slot.finished = true;  // std::list: the slot stays where it is until joined
      });
}

void HttpServer::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    stopping_ = true;
    for (const auto& [fd, deadline] : queue_) ::close(fd);
    queue_.clear();
    // Wakes a worker waiting to read a request; one whose handler has already answered still writes
    // the answer (bounded by its write deadline), as a server that shuts down gracefully does.
    for (int fd : active_) ::shutdown(fd, SHUT_RD);
  }
  queue_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  // No worker is left to start a takeover: wake those running (their reads fail) and join them.
  {
    std::lock_guard lock(mutex_);
    for (const Upgraded& u : upgraded_) {
      if (!u.finished) ::shutdown(u.fd, SHUT_RDWR);
    }
  }
  for (Upgraded& u : upgraded_) u.thread.join();
  upgraded_.clear();
}

}  // namespace vg::demo
