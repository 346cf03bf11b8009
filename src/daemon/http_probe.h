// The daemon's one small HTTP/1.1 client: readiness, liveness and release hooks, the alert
// webhooks' POST (alerts.cc) and job dispatch (job_dispatch.cc). One request per connection
// (Connection: close), plain http:// only, the answer read until the service closes the
// connection, capped, and every step bounded by the timeout. Private to src/daemon (includes
// Asio). Single-threaded: use from the daemon's io_context only.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <memory>
#include <optional>
#include <string>

#include "util/units.h"

namespace vg {

struct HttpProbeResult {
  int status = 0;     // 0: no HTTP answer (see error)
  std::string error;  // connect refused, timeout, malformed URL, …
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

// The connection one exchange travels on. Cancel() closes it at once from another coroutine; the
// exchange then ends with `cancelled` set. Shared between the exchange and whoever may cancel it.
class HttpConnection {
 public:
  explicit HttpConnection(boost::asio::io_context& io) : socket_(io) {}
  void Cancel() {
    cancelled_ = true;
    Close();
  }
  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }
  bool cancelled() const { return cancelled_; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  boost::asio::ip::tcp::socket socket_;
  bool cancelled_ = false;
};

// One request and the raw answer, before any parsing.
struct HttpExchange {
  std::string response;          // status line, headers and body as received (at most the cap
                                 // plus one read)
  boost::system::error_code ec;  // the first error (eof is not one)
  bool bad_url = false;          // `url` is not http://host[:port][/path]
  bool timed_out = false;
  bool capped = false;     // reading stopped because the answer passed `read_cap`
  bool cancelled = false;  // HttpConnection::Cancel() was called
};

// Sends `method url` with `body`; a Content-Type header (`content_type`, default
// application/json) goes along when either is given. `conn` may be null (a fresh one is used).
boost::asio::awaitable<HttpExchange> HttpExchangeOnce(boost::asio::io_context& io,
                                                      std::string method, std::string url,
                                                      Millis timeout, std::string body,
                                                      std::string content_type,
                                                      std::size_t read_cap,
                                                      std::shared_ptr<HttpConnection> conn = {});

// The status code of "HTTP/x.y NNN …" at the start of `response`; nullopt when it does not start
// so (0 when the three characters are not digits). Pure.
std::optional<int> HttpStatusOf(const std::string& response);

// A probe: `body`, when not empty, is sent with `content_type` (default application/json);
// answers are capped at 64 KiB, chunked bodies are returned as received.
boost::asio::awaitable<HttpProbeResult> HttpRequestOnce(boost::asio::io_context& io,
                                                        std::string method, std::string url,
                                                        Millis timeout, std::string body = {},
                                                        std::string content_type = {});

boost::asio::awaitable<bool> TcpConnectOnce(boost::asio::io_context& io, std::string host, int port,
                                            Millis timeout);

}  // namespace vg
