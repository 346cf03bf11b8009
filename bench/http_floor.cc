// http_floor: the floor of any daemon's durable submit over one connection on this machine. It
// listens on a unix socket and answers every HTTP/1.1 request (Content-Length framing) with a
// 202 and a rising job id — no parsing beyond the framing, no JSON, no store, no fsync — so
// `submit_load` against it measures only what the two processes and the kernel cost per round
// trip. bench/jobs_bench.sh runs it beside each API run: API / floor says how much of a
// submission's time is vramguard's, and floor / raw SQLite says what any design could reach.
//
//   http_floor --socket PATH        (serves until killed; one thread per connection)
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::atomic<long> next_id{1};

// Reads requests off `fd` and answers each; returns when the peer closes.
void Serve(int fd) {
  std::string buf;
  char chunk[65536];
  for (;;) {
    std::size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    std::size_t body = 0;
    for (std::size_t i = 0; i < head_end; ++i) buf[i] = static_cast<char>(std::tolower(buf[i]));
    if (auto cl = buf.find("content-length:"); cl != std::string::npos && cl < head_end)
      body = std::strtoul(buf.c_str() + cl + 15, nullptr, 10);
    while (buf.size() < head_end + 4 + body) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    buf.erase(0, head_end + 4 + body);
    std::string json = "{\"id\":" + std::to_string(next_id++) + ",\"state\":\"queued\"}";
    std::string out =
        "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(json.size()) + "\r\n\r\n" + json;
    if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
      ::close(fd);
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--socket") {
    std::fprintf(stderr, "usage: http_floor --socket PATH\n");
    return 2;
  }
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, argv[2], sizeof addr.sun_path - 1);
  ::unlink(argv[2]);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 64) != 0) {
    std::perror("http_floor: bind/listen");
    return 1;
  }
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread(Serve, fd).detach();
  }
}
