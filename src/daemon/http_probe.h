// The daemon's one small HTTP/1.1 client: readiness, liveness and release hooks, the alert
// webhooks' POST (alerts.cc) and job dispatch (job_dispatch.cc). One request per connection
// (Connection: close), plain http:// only, the answer parsed by api/response_reader.h (Content-
// Length, chunked or until close; headers and body bounded), and every step bounded by the
// timeout. Private to src/daemon (includes
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
  bool cancelled = false;  // the connection was closed on purpose (the service is stopping)
  bool closed = false;     // the service closed or reset the connection before any answer (it
                           // may be exiting): not a malformed answer
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

// One request and its answer, parsed (api/response_reader.h).
struct HttpExchange {
  int status = 0;                // 0: no complete status line (see ec, malformed)
  std::string body;              // decoded (chunked framing removed), at most max_body bytes
  std::string malformed;         // why the answer is not HTTP, when it is not (one line)
  bool closed = false;           // the peer closed or reset the connection before any byte
  boost::system::error_code ec;  // the first transport error (eof is not one)
  bool bad_url = false;          // `url` is not http://host[:port][/path]
  bool timed_out = false;
  bool capped = false;     // the body passed `max_body`: `body` holds its first max_body bytes
  bool cancelled = false;  // HttpConnection::Cancel() was called
};

// Sends `method url` with `body`; a Content-Type header (`content_type`, default
// application/json) goes along when either is given. `conn` may be null (a fresh one is used).
// Reading stops when the answer is complete, its body passes `max_body`, or the peer closes.
boost::asio::awaitable<HttpExchange> HttpExchangeOnce(boost::asio::io_context& io,
                                                      std::string method, std::string url,
                                                      Millis timeout, std::string body,
                                                      std::string content_type,
                                                      std::size_t max_body,
                                                      std::shared_ptr<HttpConnection> conn = {});

// A probe: `body`, when not empty, is sent with `content_type` (default application/json);
// answer bodies are decoded and capped at kProbeBodyBytes. A probe whose connection was
// cancelled (HttpConnection::Cancel, e.g. at stop) ends with `cancelled`, not a parse error.
inline constexpr std::size_t kProbeBodyBytes = 64 * 1024;
boost::asio::awaitable<HttpProbeResult> HttpRequestOnce(boost::asio::io_context& io,
                                                        std::string method, std::string url,
                                                        Millis timeout, std::string body = {},
                                                        std::string content_type = {});

boost::asio::awaitable<bool> TcpConnectOnce(boost::asio::io_context& io, std::string host, int port,
                                            Millis timeout);

}  // namespace vg
