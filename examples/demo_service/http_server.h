// The demo service's listener: accepts TCP connections on one thread and serves each on a small
// pool of worker threads (read one request, call the handler, write the response, close), so a
// slow client or a long job never blocks health checks.
//
// A handler may take a connection over instead of answering (HttpResponse::takeover, a WebSocket
// upgrade): its call then runs on a thread of its own, so long-lived connections never hold a
// worker; the handler bounds how many it hands out.
//
// Owns the listening socket, the accepted sockets and the threads. AcceptUntil runs on the calling
// thread; Shutdown (also run by the destructor) may be called once from that same thread after it
// returns. The handler runs on worker threads and must be thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http.h"
#include "util/error.h"

namespace vg::demo {

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Options {
    HttpLimits limits;
    std::chrono::milliseconds read_timeout{5000};  // whole request, from accept
    unsigned workers = 8;
    std::size_t max_queued = 64;  // accepted, not yet picked up; beyond that: 503 and close
  };

  enum class Wake { kWakeFd, kDeadline };

  // Binds host:port (an IPv4 address; port 0 picks a free one) and listens. kRefused when the
  // address is in use; kInvalidArgument for a host that is not an IPv4 address; kIo otherwise.
  static Result<std::unique_ptr<HttpServer>> Listen(const std::string& host, std::uint16_t port,
                                                    Options options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const { return port_; }

  // Starts the workers, then accepts connections until `wake_fd` is readable (a signalfd) or
  // `deadline` passes; says which. Call once.
  Wake AcceptUntil(Handler handler, int wake_fd, std::optional<TimePoint> deadline);

  // Closes the listener, drops queued connections, wakes connections being read, joins the
  // workers, then shuts the taken-over connections down and joins their threads (the handler and
  // the takeovers must return promptly: stop the app first).
  void Shutdown();

 private:
  HttpServer(int listen_fd, std::uint16_t port, Options options)
      : listen_fd_(listen_fd), port_(port), options_(options) {}
  struct Upgraded {
    std::thread thread;
    int fd;                 // closed by the thread when its takeover returns
    bool finished = false;  // guarded by mutex_
  };
  void Enqueue(int fd);
  void WorkerLoop();
  // One request: read, handle, answer; or the handler's takeover, with the bytes read past the
  // head.
  std::optional<std::pair<HttpResponse::Takeover, std::string>> Serve(int fd, TimePoint deadline);
  // Runs `takeover` on a thread of its own, which closes `fd` when it returns. Under mutex_.
  void StartTakeover(int fd, HttpResponse::Takeover takeover, std::string early);

  int listen_fd_;
  std::uint16_t port_;
  Options options_;
  Handler handler_;
  std::vector<std::thread> workers_;

  std::mutex mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::pair<int, TimePoint>> queue_;  // accepted fd and its read deadline
  std::set<int> active_;                         // fds being served
  std::list<Upgraded> upgraded_;                 // taken-over connections; finished ones are
                                                 // joined when the next one starts
  bool stopping_ = false;
};

}  // namespace vg::demo
