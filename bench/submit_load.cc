// submit_load: a load generator for the daemon's job API (bench/jobs_bench.sh). Sends N
// `POST /v1/jobs` requests over the control socket from C connections at once (HTTP/1.1
// keep-alive, one request in flight per connection) and prints one JSON document:
// {"count", "concurrency", "seconds", "per_s", "p50_ms", "p99_ms", "max_ms", "status": {code: n},
//  "connects"}.
//
//   submit_load --socket PATH --body JSON [--count N] [--concurrency C] [--keys]
//
// --keys: give every request its own idempotency_key, unique to this run (the body must end
// with '}').
// Every answer must be a 202 (accepted and durable): any other status (a 429 from the rate
// limit, a 200 for a duplicate key, a 5xx) or a lost connection is counted in "status" (0: no
// answer), said on stderr, and makes the exit status 1, so a script measuring throughput fails
// instead of timing cheap refusals. "connects" counts the connections opened: more than
// `concurrency` means the daemon closed some (it does after an error).
// Plain POSIX sockets and threads: no dependency, so the script can build it with one c++ call.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int Connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one response (Content-Length framing); returns the status, 0 on failure.
int ReadResponse(int fd, std::string& buf) {
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t len = 0;
      std::string head = buf.substr(0, end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto cl = head.find("content-length:");
      if (cl != std::string::npos) len = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
      if (buf.size() >= end + 4 + len) {
        int status = std::atoi(buf.c_str() + 9);
        buf.erase(0, end + 4 + len);
        return status;
      }
    }
    char tmp[65536];
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, body;
  int count = 1000, concurrency = 8;
  bool keys = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--socket")
      socket = next();
    else if (a == "--body")
      body = next();
    else if (a == "--count")
      count = std::atoi(next().c_str());
    else if (a == "--concurrency")
      concurrency = std::atoi(next().c_str());
    else if (a == "--keys")
      keys = true;
    else {
      std::fprintf(stderr, "submit_load: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (socket.empty() || body.empty() || count < 1 || concurrency < 1) {
    std::fprintf(stderr,
                 "usage: submit_load --socket PATH --body JSON [--count N] "
                 "[--concurrency C] [--keys]\n");
    return 2;
  }
  std::atomic<int> next_req{0};
  // Keys unique to this run: a second run against the same daemon must measure inserts, not
  // duplicates (which answer 200 from the key lookup).
  const std::string run_id =
      std::to_string(::getpid()) + "-" + std::to_string(Clock::now().time_since_epoch().count());
  std::mutex mu;
  std::vector<double> lat;
  std::map<int, int> codes;
  std::atomic<int> connects{0};
  auto worker = [&](int w) {
    int fd = Connect(socket);
    if (fd >= 0) ++connects;
    std::string buf;
    std::vector<double> mine;
    std::map<int, int> my_codes;
    for (;;) {
      int i = next_req.fetch_add(1);
      if (i >= count) break;
      std::string b = body;
      if (keys)
        b = b.substr(0, b.rfind('}')) + ",\"idempotency_key\":\"" + run_id + "-" +
            std::to_string(i) + "\"}";
      std::string req =
          "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
          "application/json\r\nContent-Length: " +
          std::to_string(b.size()) + "\r\n\r\n" + b;
      auto t0 = Clock::now();
      int status = 0;
      for (int attempt = 0; attempt < 2 && status == 0; ++attempt) {
        if (fd < 0 && (fd = Connect(socket)) >= 0) ++connects;
        if (fd >= 0 && WriteAll(fd, req)) status = ReadResponse(fd, buf);
        if (status == 0 && fd >= 0) {
          ::close(fd);
          fd = -1;
          buf.clear();
        }
      }
      mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      ++my_codes[status];
    }
    if (fd >= 0) ::close(fd);
    std::lock_guard<std::mutex> l(mu);
    lat.insert(lat.end(), mine.begin(), mine.end());
    for (auto [c, n] : my_codes) codes[c] += n;
    (void)w;
  };
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) threads.emplace_back(worker, w);
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0
                       : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))];
  };
  std::string status = "{";
  for (auto [c, n] : codes)
    status += (status.size() > 1 ? "," : "") + std::string("\"") + std::to_string(c) +
              "\":" + std::to_string(n);
  status += "}";
  std::printf(
      "{\"count\":%d,\"concurrency\":%d,\"seconds\":%.4f,\"per_s\":%.1f,\"p50_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"status\":%s,\"connects\":%d}\n",
      count, concurrency, seconds, count / seconds, pct(0.50), pct(0.99),
      lat.empty() ? 0.0 : lat.back(), status.c_str(), connects.load());
  const int accepted = codes.count(202) ? codes[202] : 0;
  if (accepted != count) {
    std::fprintf(stderr,
                 "submit_load: %d of %d answers were not 202 (statuses %s; 0 = no answer): the "
                 "rate above is not a rate of durable submits\n",
                 count - accepted, count, status.c_str());
    return 1;
  }
  return 0;
}
