#include "daemon/http_probe.h"

#include <memory>
#include <vector>

#include "api/response_reader.h"

namespace vg {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Url {
  std::string host;
  std::string port = "80";
  std::string path = "/";
};

bool ParseUrl(const std::string& url, Url* out) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out->path = rest.substr(slash);
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return false;
    out->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      out->port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    out->host = authority.substr(0, colon);
    if (colon != std::string::npos) out->port = authority.substr(colon + 1);
  }
  return !out->host.empty();
}

}  // namespace

asio::awaitable<HttpExchange> HttpExchangeOnce(asio::io_context& io, std::string method,
                                               std::string url, Millis timeout, std::string body,
                                               std::string content_type, std::size_t max_body,
                                               std::shared_ptr<HttpConnection> conn) {
  HttpExchange x;
  Url u;
  if (!ParseUrl(url, &u)) {
    x.bad_url = true;
    co_return x;
  }
  if (!conn) conn = std::make_shared<HttpConnection>(io);
  asio::steady_timer deadline(io, timeout);
  auto timed_out = std::make_shared<bool>(false);
  deadline.async_wait([conn, timed_out](const boost::system::error_code& ec) {
    if (ec) return;
    *timed_out = true;
    conn->Close();
  });
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = co_await resolver.async_resolve(u.host, u.port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
  // async_connect would reopen a socket that Cancel() closed while resolving.
  if (!ec && !conn->cancelled())
    co_await asio::async_connect(conn->socket(), endpoints,
                                 asio::redirect_error(asio::use_awaitable, ec));
  if (conn->cancelled() && !ec) ec = asio::error::operation_aborted;
  if (!ec) {
    std::string request =
        method + " " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
        "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nUser-Agent: vramguard\r\n";
    if (!body.empty() || !content_type.empty()) {
      request += "Content-Type: " +
                 (content_type.empty() ? std::string("application/json") : content_type) + "\r\n";
    }
    request += "\r\n" + body;
    co_await asio::async_write(conn->socket(), asio::buffer(request),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec) {
    HttpResponseReader reader(max_body);
    std::vector<char> buf(16384);  // not a C array: GCC 12 cannot keep one in a coroutine frame
    HttpResponseReader::State state = HttpResponseReader::State::kNeedMore;
    std::size_t received = 0;
    while (state == HttpResponseReader::State::kNeedMore) {
      std::size_t n = co_await conn->socket().async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      received += n;
      if (n > 0) state = reader.Feed(std::string_view(buf.data(), n));
      if (ec == asio::error::eof) {
        ec = {};
        state = reader.FeedEof();
        break;
      }
      if (ec) break;
    }
    x.status = reader.status();
    x.body = reader.body();
    x.capped = reader.truncated();
    x.closed = received == 0 && (!ec || ec == asio::error::connection_reset);
    if (state == HttpResponseReader::State::kError && !x.closed) x.malformed = reader.error();
    if (state != HttpResponseReader::State::kDone) x.status = 0;
  }
  deadline.cancel();
  conn->Close();
  x.ec = ec;
  x.timed_out = *timed_out;
  x.cancelled = conn->cancelled();
  co_return x;
}

asio::awaitable<HttpProbeResult> HttpRequestOnce(asio::io_context& io, std::string method,
                                                 std::string url, Millis timeout, std::string body,
                                                 std::string content_type) {
  HttpProbeResult result;
  if (body.empty()) content_type.clear();  // probes without a body send no Content-Type
  HttpExchange x = co_await HttpExchangeOnce(io, std::move(method), url, timeout, std::move(body),
                                             std::move(content_type), kProbeBodyBytes);
  if (x.bad_url) {
    result.error = "not an http:// URL: " + url;
    co_return result;
  }
  if (x.timed_out) {
    result.error = "no answer within " + FormatSeconds(timeout);
    co_return result;
  }
  if (x.cancelled) {
    result.cancelled = true;
    result.error = "cancelled: the connection was closed (the service is stopping)";
    co_return result;
  }
  if (x.status != 0) {
    result.status = x.status;
    result.body = std::move(x.body);
    co_return result;
  }
  if (x.closed) {
    result.closed = true;
    result.error = "the service closed the connection without answering";
    co_return result;
  }
  result.error = x.ec                   ? x.ec.message()
                 : !x.malformed.empty() ? x.malformed
                                        : "malformed HTTP answer";
  co_return result;
}

asio::awaitable<bool> TcpConnectOnce(asio::io_context& io, std::string host, int port,
                                     Millis timeout) {
  auto socket = std::make_shared<tcp::socket>(io);
  asio::steady_timer deadline(io, timeout);
  deadline.async_wait([socket](const boost::system::error_code& ec) {
    if (ec) return;
    boost::system::error_code ignored;
    socket->close(ignored);
  });
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(host, ec), static_cast<unsigned short>(port));
  if (ec) co_return false;
  co_await socket->async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  co_return !ec;
}

}  // namespace vg
