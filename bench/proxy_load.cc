// proxy_load: the origin server and the load generator of bench/proxy_bench.sh. Plain POSIX
// sockets and threads (no dependency: the script builds it with one c++ call). Every client mode
// prints one JSON document; any wrong answer makes the exit status 1, so a script never times
// cheap errors.
//
//   proxy_load serve PORT
//       The origin: a thread per connection, HTTP/1.1 keep-alive. GET /small → 13 bytes;
//       GET /large?bytes=N → N bytes (Content-Length); POST /upload → reads and drops the body,
//       answers its size; GET /stream?events=N&gap_us=G → chunked text/event-stream, N events
//       G µs apart, each "data: <CLOCK_MONOTONIC ns at the write>\n\n".
//   proxy_load latency PORT COUNT CONCURRENCY
//       GET /small COUNT times in all over CONCURRENCY keep-alive connections, one request in
//       flight each → {"count", "concurrency", "seconds", "per_s", "p50_us", "p99_us", "max_us"}.
//   proxy_load download PORT BYTES REPEAT   → {"bytes", "seconds", "mib_per_s"} (one connection)
//   proxy_load upload PORT BYTES REPEAT     → {"bytes", "seconds", "mib_per_s"} (one connection)
//   proxy_load stream PORT EVENTS GAP_US
//       One event stream; for each event the time from the origin's write to its arrival here
//       (same machine, same clock), and the time from sending the request to the first event
//       → {"events", "first_event_us", "p50_us", "p99_us", "max_us"}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}
bool WriteAll(int fd, const std::string& s) { return WriteAll(fd, s.data(), s.size()); }

// A connection's read side: a buffer and the helpers both ends need.
struct Reader {
  int fd;
  std::string buffer;
  bool Fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  // The head (without its blank line), or false at EOF.
  bool Head(std::string* head) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    *head = buffer.substr(0, end + 2);
    buffer.erase(0, end + 4);
    return true;
  }
  bool Drop(std::size_t n) {
    while (buffer.size() < n) {
      n -= buffer.size();
      buffer.clear();
      if (!Fill()) return false;
    }
    buffer.erase(0, n);
    return true;
  }
  // The body of a response with this head: Content-Length or chunked. Drops it unless `keep`.
  bool Body(const std::string& head, std::string* keep) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t cl = lower.find("content-length:");
    if (cl != std::string::npos) {
      std::size_t n = std::strtoull(lower.c_str() + cl + 15, nullptr, 10);
      if (keep == nullptr) return Drop(n);
      while (buffer.size() < n) {
        if (!Fill()) return false;
      }
      *keep = buffer.substr(0, n);
      buffer.erase(0, n);
      return true;
    }
    if (lower.find("transfer-encoding: chunked") == std::string::npos) return false;
    while (true) {
      std::size_t eol;
      while ((eol = buffer.find("\r\n")) == std::string::npos) {
        if (!Fill()) return false;
      }
      std::size_t size = std::strtoull(buffer.c_str(), nullptr, 16);
      buffer.erase(0, eol + 2);
      if (size == 0) return Drop(2);
      while (buffer.size() < size + 2) {
        if (!Fill()) return false;
      }
      if (keep) keep->append(buffer, 0, size);
      buffer.erase(0, size + 2);
    }
  }
};

std::size_t QueryNumber(const std::string& target, const char* key, std::size_t fallback) {
  std::size_t at = target.find(std::string(key) + "=");
  if (at == std::string::npos) return fallback;
  return std::strtoull(target.c_str() + at + std::strlen(key) + 1, nullptr, 10);
}

void Serve(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  static const std::string kBlock(1 << 20, 'x');
  Reader in{fd, {}};
  std::string head;
  while (in.Head(&head)) {
    std::string target = head.substr(head.find(' ') + 1);
    target = target.substr(0, target.find(' '));
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t cl = lower.find("content-length:");
    std::size_t body =
        cl == std::string::npos ? 0 : std::strtoull(lower.c_str() + cl + 15, nullptr, 10);
    bool ok = true;
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      ok = in.Body(head, nullptr);
    } else {
      ok = in.Drop(body);
    }
    if (!ok) break;
    if (target.starts_with("/small")) {
      ok = WriteAll(fd,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
                    "hello, world\n");
    } else if (target.starts_with("/large")) {
      std::size_t n = QueryNumber(target, "bytes", 1 << 20);
      ok = WriteAll(fd,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    "Content-Length: " +
                        std::to_string(n) + "\r\n\r\n");
      for (std::size_t sent = 0; ok && sent < n; sent += kBlock.size()) {
        ok = WriteAll(fd, kBlock.data(), std::min(kBlock.size(), n - sent));
      }
    } else if (target.starts_with("/upload")) {
      std::string text = std::to_string(body);
      ok = WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(text.size()) +
                            "\r\n\r\n" + text);
    } else if (target.starts_with("/stream")) {
      std::size_t events = QueryNumber(target, "events", 10);
      std::size_t gap = QueryNumber(target, "gap_us", 10000);
      ok = WriteAll(fd,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (std::size_t i = 0; ok && i < events; ++i) {
        if (i > 0) std::this_thread::sleep_for(std::chrono::microseconds(gap));
        std::string event = "data: " + std::to_string(MonoNs()) + "\n\n";
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", event.size());
        ok = WriteAll(fd, size + event + "\r\n");
      }
      ok = ok && WriteAll(fd, "0\r\n\r\n");
    } else {
      ok = WriteAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    if (!ok) break;
  }
  ::close(fd);
}

int Listen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 512) != 0) {
    std::perror("listen");
    std::exit(2);
  }
  return fd;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

bool ExpectStatus(const std::string& head, const char* status) {
  if (head.compare(9, 3, status) == 0) return true;
  std::fprintf(stderr, "unexpected answer: %s\n", head.substr(0, head.find('\r')).c_str());
  return false;
}

int Latency(int port, int count, int concurrency) {
  std::vector<std::vector<double>> per(concurrency);
  std::atomic<bool> failed{false};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      int fd = Connect(port);
      Reader in{fd, {}};
      const std::string request = "GET /small HTTP/1.1\r\nHost: bench\r\n\r\n";
      std::string head;
      for (int i = t; i < count && !failed; i += concurrency) {
        auto sent = Clock::now();
        if (!WriteAll(fd, request) || !in.Head(&head) || !ExpectStatus(head, "200") ||
            !in.Body(head, nullptr)) {
          std::fprintf(stderr, "connection %d: no complete answer to request %d\n", t, i);
          failed = true;
          break;
        }
        per[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
      }
      ::close(fd);
    });
  }
  for (auto& th : threads) th.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::printf(
      "{\"count\": %zu, \"concurrency\": %d, \"seconds\": %.4f, \"per_s\": %.1f, "
      "\"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
      all.size(), concurrency, seconds, static_cast<double>(all.size()) / seconds,
      Percentile(all, 0.5), Percentile(all, 0.99), Percentile(all, 1.0));
  return failed ? 1 : 0;
}

int Transfer(int port, std::size_t bytes, int repeat, bool upload) {
  int fd = Connect(port);
  Reader in{fd, {}};
  static const std::string kBlock(1 << 20, 'u');
  std::string head;
  auto start = Clock::now();
  for (int r = 0; r < repeat; ++r) {
    bool ok;
    if (upload) {
      ok = WriteAll(fd,
                    "POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Type: image/png\r\n"
                    "Content-Length: " +
                        std::to_string(bytes) + "\r\n\r\n");
      for (std::size_t sent = 0; ok && sent < bytes; sent += kBlock.size()) {
        ok = WriteAll(fd, kBlock.data(), std::min(kBlock.size(), bytes - sent));
      }
      std::string answer;
      ok = ok && in.Head(&head) && ExpectStatus(head, "200") && in.Body(head, &answer) &&
           answer == std::to_string(bytes);
    } else {
      ok = WriteAll(fd, "GET /large?bytes=" + std::to_string(bytes) +
                            " HTTP/1.1\r\nHost: bench\r\n\r\n") &&
           in.Head(&head) && ExpectStatus(head, "200") && in.Body(head, nullptr);
    }
    if (!ok) {
      std::fprintf(stderr, "transfer %d failed\n", r);
      return 1;
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double total = static_cast<double>(bytes) * repeat;
  std::printf("{\"bytes\": %.0f, \"seconds\": %.4f, \"mib_per_s\": %.1f}\n", total, seconds,
              total / seconds / (1 << 20));
  ::close(fd);
  return 0;
}

int Stream(int port, int events, int gap_us) {
  int fd = Connect(port);
  Reader in{fd, {}};
  std::int64_t sent = MonoNs();
  if (!WriteAll(fd, "GET /stream?events=" + std::to_string(events) +
                        "&gap_us=" + std::to_string(gap_us) +
                        " HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")) {
    return 1;
  }
  std::string head;
  if (!in.Head(&head) || !ExpectStatus(head, "200")) return 1;
  std::vector<double> delays;
  double first = -1;
  std::size_t pos = 0;
  while (static_cast<int>(delays.size()) < events) {
    std::size_t at;
    while ((at = in.buffer.find("data: ", pos)) == std::string::npos ||
           in.buffer.find("\n\n", at) == std::string::npos) {
      if (!in.Fill()) {
        std::fprintf(stderr, "stream ended after %zu events\n", delays.size());
        return 1;
      }
    }
    std::int64_t now = MonoNs();
    std::int64_t written = std::strtoll(in.buffer.c_str() + at + 6, nullptr, 10);
    delays.push_back(static_cast<double>(now - written) / 1000.0);
    if (first < 0) first = static_cast<double>(now - sent) / 1000.0;
    pos = in.buffer.find("\n\n", at) + 2;
  }
  std::printf(
      "{\"events\": %zu, \"first_event_us\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
      "\"max_us\": %.1f}\n",
      delays.size(), first, Percentile(delays, 0.5), Percentile(delays, 0.99),
      Percentile(delays, 1.0));
  ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  auto num = [&](std::size_t i) { return std::strtoull(a.at(i).c_str(), nullptr, 10); };
  if (a.size() == 2 && a[0] == "serve") {
    int listener = Listen(static_cast<int>(num(1)));
    std::printf("Running on local URL: http://127.0.0.1:%s\n", a[1].c_str());
    std::fflush(stdout);
    while (true) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) std::thread(Serve, fd).detach();
    }
  }
  if (a.size() == 4 && a[0] == "latency") {
    return Latency(static_cast<int>(num(1)), static_cast<int>(num(2)), static_cast<int>(num(3)));
  }
  if (a.size() == 4 && (a[0] == "download" || a[0] == "upload")) {
    return Transfer(static_cast<int>(num(1)), num(2), static_cast<int>(num(3)), a[0] == "upload");
  }
  if (a.size() == 4 && a[0] == "stream") {
    return Stream(static_cast<int>(num(1)), static_cast<int>(num(2)), static_cast<int>(num(3)));
  }
  std::fprintf(stderr,
               "usage: proxy_load serve PORT | latency PORT COUNT CONCURRENCY | download PORT "
               "BYTES REPEAT | upload PORT BYTES REPEAT | stream PORT EVENTS GAP_US\n");
  return 2;
}
