// A redis-server of the test's own on a free loopback port, without persistence, killed and
// reaped when the object dies. `available()` is false (with `why()`) where Debian's
// redis-server is not installed: tests skip with that reason. Header-only and test-only.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "fleet/redis_fleet_store.h"

namespace vg::testing {

class RedisServer {
 public:
  RedisServer() {
    const char* path = "/usr/bin/redis-server";
    if (::access(path, X_OK) != 0) {
      why_ = "redis-server is not installed (scripts/setup.sh installs it)";
      return;
    }
    port_ = FreePort();
    if (port_ == 0) {
      why_ = "no free loopback port";
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string port = std::to_string(port_);
      ::execl(path, path, "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no", "--logfile", "/dev/null", nullptr);
      ::_exit(127);
    }
    // Ready when it answers PING (at most 5 s).
    fleet::RedisFleetStore probe(Endpoint());
    for (int i = 0; i < 500; ++i) {
      if (probe.Ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    why_ = "redis-server did not answer on port " + std::to_string(port_);
  }
  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool available() const { return why_.empty(); }
  const std::string& why() const { return why_; }
  int port() const { return port_; }
  fleet::RedisEndpoint Endpoint() const {
    fleet::RedisEndpoint ep;
    ep.port = port_;
    ep.connect_timeout = Millis(500);
    ep.io_timeout = Millis(2000);
    return ep;
  }

 private:
  static int FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  }

  int port_ = 0;
  pid_t pid_ = -1;
  std::string why_;
};

}  // namespace vg::testing
