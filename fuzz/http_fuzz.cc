// libFuzzer target: raw bytes on a connection to the control API's server (src/api/server.cc)
// with a router like the daemon's: headers, chunked bodies, pipelining, JSON bodies (nesting
// included) through ParseJsonBody, a stream. The server must answer HTTP or close, never crash or
// hang, and an error body never quotes much of the input (docs/api.md "Limits").
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "api/server.h"
#include "check.h"

namespace {

namespace net = boost::asio;

using vg_fuzz::Check;

struct Fixture {
  Fixture() {
    char dir[] = "/tmp/vg-http-fuzz-XXXXXX";
    Check(::mkdtemp(dir) != nullptr);
    path = std::string(dir) + "/api.sock";
    router.Add("POST", "/v1/jobs", [](const vg::HttpRequest& r, const vg::PathParams&) {
      auto body = vg::ParseJsonBody(r);
      if (!body) return vg::HandlerResult(body.error());
      return vg::HandlerResult(vg::HttpResponse::Json(202, {{"got", body->is_object()}}));
    });
    router.Add("GET", "/v1/services/{name}", [](const vg::HttpRequest&, const vg::PathParams& p) {
      return vg::HandlerResult(vg::HttpResponse::Json(200, {{"name", p.at("name")}}));
    });
    router.Add("GET", "/v1/events", [](const vg::HttpRequest&, const vg::PathParams&) {
      return vg::HandlerResult(vg::StreamStarter([](std::shared_ptr<vg::ResponseStream> s) {
        s->Write("event\r\nline");
        s->Close();
      }));
    });
    vg::ApiServerOptions options;
    options.body_limit = 64 * 1024;
    options.idle_timeout = std::chrono::milliseconds(200);
    server = std::make_unique<vg::ApiServer>(io, router, options);
    Check(server->ListenUnix(path).has_value());
  }
  net::io_context io;
  vg::Router router;
  std::unique_ptr<vg::ApiServer> server;
  std::string path;
};

Fixture& F() {
  static Fixture* f = new Fixture();  // never destroyed: libFuzzer exits without unwinding
  return *f;
}

// Checks every complete response in `out`: a status line, and error bodies that stay short.
void CheckResponses(std::string_view out) {
  while (!out.empty()) {
    Check(out.starts_with("HTTP/1.1 "));
    std::size_t head_end = out.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return;  // cut off by the close
    std::string_view head = out.substr(0, head_end);
    int status = std::atoi(std::string(out.substr(9, 3)).c_str());
    std::size_t cl = head.find("Content-Length: ");
    if (cl == std::string_view::npos) return;  // a stream: the rest is its body
    std::size_t length = std::strtoul(std::string(head.substr(cl + 16)).c_str(), nullptr, 10);
    if (status >= 400) Check(length < 400);  // one line, never an echo of the input
    out.remove_prefix(std::min(out.size(), head_end + 4 + length));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = F();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  Check(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  f.path.copy(address.sun_path, sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return 0;
  }
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  bool shut = false;
  char buf[65536];
  // The server runs on this thread: send, poll the server, read, until it closes (bounded).
  for (int round = 0; round < 20000; ++round) {
    if (!in.empty()) {
      ssize_t n = ::send(fd, in.data(), in.size(), MSG_NOSIGNAL);
      if (n > 0) in.remove_prefix(static_cast<std::size_t>(n));
    }
    if (in.empty() && !shut) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    f.io.poll();
    f.io.restart();
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      Check(out.size() < (std::size_t{16} << 20));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      break;  // closed
    } else if (shut) {
      f.io.run_one_for(std::chrono::milliseconds(5));  // wait for the server's next step
      f.io.restart();
    }
  }
  ::close(fd);
  for (int i = 0; i < 100 && f.io.poll() > 0; ++i) f.io.restart();
  f.io.restart();
  CheckResponses(out);
  return 0;
}
