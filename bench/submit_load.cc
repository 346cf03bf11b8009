// submit_load: a load generator for the daemon's job API (bench/jobs_bench.sh). Sends N
// `POST /v1/jobs` requests over the control socket from C connections at once (HTTP/1.1
// keep-alive; P requests in flight per connection, pipelined, 1 by default) and prints one JSON
// document:
// {"count", "concurrency", "pipeline", "seconds", "per_s", "p50_ms", "p99_ms", "max_ms",
//  "status": {code: n}, "connects", "misordered"}.
//
//   submit_load --socket PATH --body JSON [--count N] [--concurrency C] [--pipeline P] [--keys]
//
// --keys: give every request its own idempotency_key, unique to this run (the body must end
// with '}').
// --pipeline P: each connection keeps P requests in flight: it writes requests until P are
// unanswered, reads every response that has arrived, then tops the window up with one write.
// A request's latency runs from its write to its response.
// Every answer must be a 202 (accepted and durable): any other status (a 429 from the rate
// limit, a 200 for a duplicate key, a 5xx) or a lost connection is counted in "status" (0: no
// answer), said on stderr, and makes the exit status 1, so a script measuring throughput fails
// instead of timing cheap refusals. The answers on one connection must come in request order:
// their job ids must rise ("misordered" counts those that do not; any makes the exit status 1).
// "connects" counts the connections opened: more than `concurrency` means the daemon closed
// some (it does after an error); the requests in flight on a lost connection are sent once more
// on a new one.
// Plain POSIX sockets and threads: no dependency, so the script can build it with one c++ call.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
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

// Takes one complete response (Content-Length framing) off the front of buf: its status (and
// body), or -1 when buf does not hold a whole one yet.
int TakeResponse(std::string& buf, std::string* body) {
  auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return -1;
  std::size_t len = 0;
  std::string head = buf.substr(0, end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto cl = head.find("content-length:");
  if (cl != std::string::npos) len = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
  if (buf.size() < end + 4 + len) return -1;
  int status = std::atoi(buf.c_str() + 9);
  if (body) body->assign(buf, end + 4, len);
  buf.erase(0, end + 4 + len);
  return status;
}

// Reads until buf holds a whole response; false when the connection ends first.
bool ReadMore(int fd, std::string& buf) {
  char tmp[65536];
  ssize_t n = ::read(fd, tmp, sizeof tmp);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<std::size_t>(n));
  return true;
}

// The job id in a 202's JSON body (`"id":N`), or -1.
long long JobId(const std::string& body) {
  auto at = body.find("\"id\":");
  return at == std::string::npos ? -1 : std::strtoll(body.c_str() + at + 5, nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, body;
  int count = 1000, concurrency = 8, pipeline = 1;
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
    else if (a == "--pipeline")
      pipeline = std::atoi(next().c_str());
    else if (a == "--keys")
      keys = true;
    else {
      std::fprintf(stderr, "submit_load: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (socket.empty() || body.empty() || count < 1 || concurrency < 1 || pipeline < 1) {
    std::fprintf(stderr,
                 "usage: submit_load --socket PATH --body JSON [--count N] "
                 "[--concurrency C] [--pipeline P] [--keys]\n");
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
  std::atomic<int> misordered{0};
  auto request = [&](int i) {
    std::string b = body;
    if (keys)
      b = b.substr(0, b.rfind('}')) + ",\"idempotency_key\":\"" + run_id + "-" + std::to_string(i) +
          "\"}";
    return "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
           "application/json\r\nContent-Length: " +
           std::to_string(b.size()) + "\r\n\r\n" + b;
  };
  auto worker = [&] {
    struct InFlight {
      int index;
      Clock::time_point sent;
      int attempts;
    };
    int fd = Connect(socket);
    if (fd >= 0) ++connects;
    std::string buf, answer;
    std::deque<InFlight> window;
    std::size_t unsent = 0;  // the last `unsent` of window are not written yet
    long long last_id = -1;  // job ids rise along one connection's answers
    std::vector<double> mine;
    std::map<int, int> my_codes;
    int my_misordered = 0;
    auto finish = [&](int status) {
      mine.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - window.front().sent).count());
      ++my_codes[status];
      window.pop_front();
    };
    for (;;) {
      while (static_cast<int>(window.size()) < pipeline) {
        int i = next_req.fetch_add(1);
        if (i >= count) break;
        window.push_back({i, Clock::now(), 1});
        ++unsent;
      }
      if (window.empty()) break;
      bool ok = fd >= 0;
      if (ok && unsent > 0) {
        std::string out;
        const auto now = Clock::now();
        for (std::size_t k = window.size() - unsent; k < window.size(); ++k) {
          out += request(window[k].index);
          window[k].sent = now;
        }
        ok = WriteAll(fd, out);
        unsent = 0;
      }
      // Every response that has arrived (at least one), in order.
      int status = -1;
      while (ok && (status = TakeResponse(buf, &answer)) < 0) ok = ReadMore(fd, buf);
      while (ok && status >= 0 && !window.empty()) {
        if (status == 202) {
          const long long id = JobId(answer);
          if (id <= last_id) ++my_misordered;
          last_id = id;
        }
        finish(status);
        status = TakeResponse(buf, &answer);
      }
      if (ok) continue;
      // The connection is gone: what it did not answer goes once more on a new one.
      if (fd >= 0) ::close(fd);
      buf.clear();
      last_id = -1;
      while (!window.empty() && window.front().attempts >= 2) finish(0);
      for (InFlight& f : window) ++f.attempts;
      unsent = window.size();
      if ((fd = Connect(socket)) >= 0) {
        ++connects;
      } else {
        while (!window.empty()) finish(0);
        unsent = 0;
      }
    }
    if (fd >= 0) ::close(fd);
    misordered += my_misordered;
    std::lock_guard<std::mutex> l(mu);
    lat.insert(lat.end(), mine.begin(), mine.end());
    for (auto [c, n] : my_codes) codes[c] += n;
  };
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) threads.emplace_back(worker);
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
      "{\"count\":%d,\"concurrency\":%d,\"pipeline\":%d,\"seconds\":%.4f,\"per_s\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"status\":%s,\"connects\":%d,"
      "\"misordered\":%d}\n",
      count, concurrency, pipeline, seconds, count / seconds, pct(0.50), pct(0.99),
      lat.empty() ? 0.0 : lat.back(), status.c_str(), connects.load(), misordered.load());
  const int accepted = codes.count(202) ? codes[202] : 0;
  if (accepted != count) {
    std::fprintf(stderr,
                 "submit_load: %d of %d answers were not 202 (statuses %s; 0 = no answer): the "
                 "rate above is not a rate of durable submits\n",
                 count - accepted, count, status.c_str());
    return 1;
  }
  if (misordered > 0) {
    std::fprintf(stderr,
                 "submit_load: %d answers came out of request order on their connection (job ids "
                 "not rising)\n",
                 misordered.load());
    return 1;
  }
  return 0;
}
