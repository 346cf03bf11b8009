// ApiClient: Beast's HTTP client on a local socket, each call a private io_context run on the
// caller's thread until its operation completes or its deadline passes.
#include "api/client.h"

#include <cerrno>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "api/http.h"

namespace vg {
namespace {
namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using ClientClock = std::chrono::steady_clock;
using Deadline = std::optional<ClientClock::time_point>;

constexpr auto kStreamSetupTimeout = std::chrono::seconds(30);
// Beast 1.74 treats an unset body limit as 0 when a Content-Length is present: give a number.
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

class ClientConnection {
 public:
  explicit ClientConnection(const std::string& path) : socket_(io_), path_(path) {}

  Result<void> Connect(Deadline deadline) {
    error_code ec = Run(deadline, [&](auto handler) {
      socket_.async_connect(net::local::stream_protocol::endpoint(path_), std::move(handler));
    });
    if (!ec) return {};
    const std::string hint = "start it with `vramguard up`";
    if (ec.value() == ENOENT) {
      return Fail(ErrorCode::kNotFound,
                  "the vramguard daemon is not running (no socket at " + path_ + ")", hint);
    }
    if (ec.value() == ECONNREFUSED) {
      return Fail(ErrorCode::kNotFound,
                  "the vramguard daemon is not running (stale socket " + path_ + ")", hint);
    }
    if (ec.value() == EACCES || ec.value() == EPERM) {
      return Fail(ErrorCode::kPermissionDenied, "permission denied on the daemon's socket " + path_,
                  "run as the user the daemon runs as, or point VRAMGUARD_SOCKET at your own "
                  "daemon's socket");
    }
    if (ec == net::error::timed_out) return std::unexpected(TimeoutError());
    return Fail(ErrorCode::kIo, "cannot connect to " + path_ + ": " + ec.message());
  }

  // Starts one asynchronous operation with `start(handler)` and runs the loop until it completes
  // or the deadline passes (then the socket is closed and timed_out returned).
  template <class Start>
  error_code Run(Deadline deadline, Start start) {
    std::optional<error_code> result;
    start([&result](error_code ec, auto&&...) { result = ec; });
    io_.restart();
    if (deadline) {
      io_.run_until(*deadline);
    } else {
      io_.run();
    }
    if (result) return *result;
    error_code ignored;
    socket_.close(ignored);
    io_.restart();
    io_.run();  // lets the aborted operation finish
    return net::error::timed_out;
  }

  vg::Error TimeoutError() const {
    return vg::Error{ErrorCode::kTimeout,
                     "the vramguard daemon at " + path_ + " did not answer in time",
                     "it may be busy or hung; check its log"};
  }

  vg::Error BrokenError(const error_code& ec) const {
    return vg::Error{
        ErrorCode::kIo,
        "lost the connection to the vramguard daemon at " + path_ + ": " + ec.message(),
        "check the daemon's log; it may have stopped"};
  }

  net::local::stream_protocol::socket& socket() { return socket_; }

 private:
  net::io_context io_;
  net::local::stream_protocol::socket socket_;
  std::string path_;
};

http::request<http::string_body> MakeRequest(std::string_view method, std::string_view target) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "vramguard-cli");
  request.keep_alive(false);
  return request;
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

}  // namespace

ApiClient ApiClient::ForUnixSocket(std::string path) { return ApiClient(std::move(path)); }

Result<ClientResponse> ApiClient::Request(std::string_view method, std::string_view target,
                                          const std::optional<nlohmann::json>& body,
                                          std::chrono::milliseconds timeout) {
  Deadline deadline = ClientClock::now() + timeout;
  ClientConnection connection(path_);
  if (Result<void> connected = connection.Connect(deadline); !connected) {
    return std::unexpected(connected.error());
  }

  http::request<http::string_body> request = MakeRequest(method, target);
  request.set(http::field::accept, "application/json");
  if (body) {
    request.set(http::field::content_type, "application/json");
    request.body() = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  request.prepare_payload();
  error_code write_ec = connection.Run(deadline, [&](auto handler) {
    http::async_write(connection.socket(), request, std::move(handler));
  });
  if (write_ec == net::error::timed_out) return std::unexpected(connection.TimeoutError());
  // A failed write may still have an answer waiting (the daemon refused a body it would not
  // read, e.g. 413 or 401, and closed): read it before reporting a broken connection.

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kNoBodyLimit);
  error_code read_ec = connection.Run(deadline, [&](auto handler) {
    http::async_read(connection.socket(), buffer, parser, std::move(handler));
  });
  if (read_ec == net::error::timed_out) return std::unexpected(connection.TimeoutError());
  if (read_ec) return std::unexpected(connection.BrokenError(write_ec ? write_ec : read_ec));

  ClientResponse response;
  response.status = static_cast<int>(parser.get().result_int());
  response.body = std::move(parser.get().body());
  response.json = nlohmann::json::parse(response.body, nullptr, false);
  if (response.json.is_discarded()) response.json = nullptr;
  return response;
}

Result<void> ApiClient::Stream(std::string_view target,
                               const std::function<bool(std::string_view line)>& on_line) {
  Deadline setup_deadline = ClientClock::now() + kStreamSetupTimeout;
  ClientConnection connection(path_);
  if (Result<void> connected = connection.Connect(setup_deadline); !connected) {
    return std::unexpected(connected.error());
  }
  http::request<http::string_body> request = MakeRequest("GET", target);
  request.set(http::field::accept, "text/event-stream");
  request.prepare_payload();
  error_code ec = connection.Run(setup_deadline, [&](auto handler) {
    http::async_write(connection.socket(), request, std::move(handler));
  });
  if (ec == net::error::timed_out) return std::unexpected(connection.TimeoutError());

  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(kNoBodyLimit);
  ec = connection.Run(setup_deadline, [&](auto handler) {
    http::async_read_header(connection.socket(), buffer, parser, std::move(handler));
  });
  if (ec == net::error::timed_out) return std::unexpected(connection.TimeoutError());
  if (ec) return std::unexpected(connection.BrokenError(ec));

  int status = static_cast<int>(parser.get().result_int());
  if (!IsSuccess(status)) {
    http::response_parser<http::string_body> rest(std::move(parser));
    ec = connection.Run(setup_deadline, [&](auto handler) {
      http::async_read(connection.socket(), buffer, rest, std::move(handler));
    });
    nlohmann::json body =
        ec ? nlohmann::json() : nlohmann::json::parse(rest.get().body(), nullptr, false);
    return std::unexpected(ErrorFromResponse(status, body.is_discarded() ? nullptr : body));
  }

  auto content_type = parser.get()[http::field::content_type];
  const bool sse = content_type.find("text/event-stream") != std::string_view::npos;
  // Returns false when the caller asked to stop.
  auto deliver = [&](std::string_view line) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!sse) return on_line(line);
    if (!line.starts_with("data:")) return true;  // blank separators, comments, event names
    line.remove_prefix(5);
    if (line.starts_with(' ')) line.remove_prefix(1);
    return on_line(line);
  };

  std::string pending;
  char chunk[8192];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    ec = connection.Run(std::nullopt, [&](auto handler) {
      http::async_read_some(connection.socket(), buffer, parser, std::move(handler));
    });
    if (ec == http::error::need_buffer) ec = {};
    pending.append(chunk, sizeof chunk - parser.get().body().size);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!deliver(std::string_view(pending).substr(start, nl - start))) return {};
    }
    pending.erase(0, start);
    if (ec == http::error::end_of_stream) break;
    if (ec) return std::unexpected(connection.BrokenError(ec));
  }
  if (!pending.empty()) deliver(pending);
  return {};
}

}  // namespace vg
