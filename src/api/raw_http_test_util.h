// Test support for the API suites: a byte-level HTTP client on a Unix or TCP socket, for what
// ApiClient deliberately cannot send (wrong content types, malformed HTTP, pipelining, idle
// connections) and for reading raw response headers. Blocking with poll() deadlines, so a broken
// server fails a test instead of hanging it. Header-only: test files only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vg::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
};

class RawConnection {
 public:
  using Millis = std::chrono::milliseconds;

  static RawConnection Unix(const std::string& path) {
    RawConnection c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) c.Reset();
    return c;
  }

  static RawConnection Tcp(int port) {
    RawConnection c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) c.Reset();
    return c;
  }

  RawConnection(RawConnection&& o) noexcept : fd_(o.fd_), buffer_(std::move(o.buffer_)) {
    o.fd_ = -1;
  }
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection() { Reset(); }

  bool connected() const { return fd_ >= 0; }

  // Sends everything; false if the peer closed or reset.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One response: status line, headers, then a Content-Length, chunked or close-delimited body.
  // nullopt when it does not arrive complete before the timeout or the connection ends early.
  std::optional<RawResponse> ReadResponse(Millis timeout = Millis(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawResponse response;
    std::string head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    if (head.size() < 12) return std::nullopt;
    response.status = std::atoi(head.c_str() + 9);
    for (std::size_t pos = head.find("\r\n") + 2; pos < head.size();) {
      std::size_t eol = head.find("\r\n", pos);
      std::string line = head.substr(pos, eol - pos);
      pos = eol + 2;
      std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::size_t start = line.find_first_not_of(' ', colon + 1);
      response.headers[name] = start == std::string::npos ? "" : line.substr(start);
    }
    // 1xx, 204 and 304: no body
    if (response.status < 200 || response.status == 204 || response.status == 304) return response;
    if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
      std::size_t length = std::stoul(it->second);
      while (buffer_.size() < length) {
        if (!Fill(deadline)) return std::nullopt;
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (response.headers["transfer-encoding"] == "chunked") {
      while (true) {
        std::size_t eol;
        while ((eol = buffer_.find("\r\n")) == std::string::npos) {
          if (!Fill(deadline)) return std::nullopt;
        }
        std::size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
        while (buffer_.size() < eol + 2 + size + 2) {
          if (!Fill(deadline)) return std::nullopt;
        }
        response.body += buffer_.substr(eol + 2, size);
        buffer_.erase(0, eol + 2 + size + 2);
        if (size == 0) break;
      }
    } else {
      while (Fill(deadline)) {
      }
      if (!eof_) return std::nullopt;
      response.body = std::move(buffer_);
      buffer_.clear();
    }
    return response;
  }

  // Reads until `needle` has arrived (it stays in buffered()); false on timeout or EOF first.
  bool ReadUntil(std::string_view needle, Millis timeout = Millis(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.find(needle) == std::string::npos) {
      if (!Fill(deadline)) return false;
    }
    return true;
  }

  // What was received and not yet taken by ReadResponse.
  std::string& buffered() { return buffer_; }

  // Ends the sending side (the server sees EOF after what was sent); reading goes on.
  void ShutdownSend() { ::shutdown(fd_, SHUT_WR); }

  // True when the server closes the connection (EOF or reset) before the timeout.
  bool WaitForClose(Millis timeout = Millis(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Fill(deadline)) {
    }
    return eof_;
  }

 private:
  explicit RawConnection(int fd) : fd_(fd) {}

  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Reads once into buffer_; false on timeout, EOF (eof_ set) or error (eof_ set).
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || fd_ < 0) return false;
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

  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace vg::testing
