#include "daemon/job_dispatch.h"

#include <charconv>
#include <cmath>
#include <regex>
#include <vector>

#include <nlohmann/json.hpp>

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

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The body of a chunked answer; false when it is malformed or incomplete.
bool Dechunk(const std::string& in, std::string* out) {
  std::size_t pos = 0;
  for (;;) {
    auto eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    std::size_t size = 0;
    auto r = std::from_chars(in.data() + pos, in.data() + eol, size, 16);
    if (r.ec != std::errc()) return false;
    pos = eol + 2;
    if (size == 0) return true;
    if (pos + size > in.size()) return false;
    out->append(in, pos, size);
    pos += size + 2;
  }
}

}  // namespace

std::optional<Bytes> TriedToAllocate(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("tried_to_allocate_bytes") &&
      j["tried_to_allocate_bytes"].is_number_unsigned())
    return Bytes(j["tried_to_allocate_bytes"].get<std::uint64_t>());
  static const std::regex kTried(R"(Tried to allocate ([0-9]+(?:\.[0-9]+)?) ?(B|KiB|MiB|GiB|TiB))");
  std::smatch m;
  const std::string text = body.substr(0, 65536);
  if (!std::regex_search(text, m, kTried)) return std::nullopt;
  double v = std::strtod(m[1].str().c_str(), nullptr);
  const std::string unit = m[2].str();
  double scale = unit == "TiB"   ? std::ldexp(1.0, 40)
                 : unit == "GiB" ? std::ldexp(1.0, 30)
                 : unit == "MiB" ? std::ldexp(1.0, 20)
                 : unit == "KiB" ? 1024.0
                                 : 1.0;
  return Bytes(static_cast<std::uint64_t>(v * scale));
}

JobDispatch::JobDispatch(asio::io_context& io)
    : io_(io),
      socket_(std::make_shared<tcp::socket>(io)),
      aborted_(std::make_shared<bool>(false)) {}

void JobDispatch::Abort() {
  *aborted_ = true;
  boost::system::error_code ignored;
  socket_->close(ignored);
}

asio::awaitable<DispatchResult> JobDispatch::Send(std::string method, std::string url,
                                                  std::string body, Millis timeout,
                                                  std::size_t max_answer) {
  DispatchResult result;
  Url u;
  if (!ParseUrl(url, &u)) {
    result.error = "not an http:// URL: " + url;
    co_return result;
  }
  auto socket = socket_;
  auto aborted = aborted_;
  asio::steady_timer deadline(io_, timeout);
  auto timed_out = std::make_shared<bool>(false);
  deadline.async_wait([socket, timed_out](const boost::system::error_code& ec) {
    if (ec) return;
    *timed_out = true;
    boost::system::error_code ignored;
    socket->close(ignored);
  });
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = co_await resolver.async_resolve(u.host, u.port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && !*aborted)
    co_await asio::async_connect(*socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (*aborted && !ec) ec = asio::error::operation_aborted;
  if (!ec) {
    std::string request = method + " " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
                          "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                          "Content-Length: " +
                          std::to_string(body.size()) + "\r\nUser-Agent: vramguard\r\n\r\n" + body;
    co_await asio::async_write(*socket, asio::buffer(request),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  std::string response;
  const std::size_t limit = max_answer + 16384;
  if (!ec) {
    std::vector<char> buf(16384);
    for (;;) {
      std::size_t n = co_await socket->async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      response.append(buf.data(), n);
      if (ec) break;
      if (response.size() > limit) {
        result.truncated = true;
        break;
      }
    }
    if (ec == asio::error::eof) ec = {};
  }
  deadline.cancel();
  boost::system::error_code ignored;
  socket->close(ignored);
  if (*aborted) {
    result.aborted = true;
    result.error = "cancelled: the connection to the service was closed";
    co_return result;
  }
  if (*timed_out) {
    result.error = "no answer within " + FormatSeconds(timeout);
    co_return result;
  }
  auto head_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/", 0) == 0 && head_end != std::string::npos) {
    auto sp = response.find(' ');
    int status = 0;
    if (sp != std::string::npos && sp + 4 <= response.size())
      std::from_chars(response.data() + sp + 1, response.data() + sp + 4, status);
    if (status >= 100) {
      result.status = status;
      std::string head = Lower(response.substr(0, head_end));
      std::string raw = response.substr(head_end + 4);
      if (head.find("transfer-encoding: chunked") != std::string::npos) {
        std::string plain;
        if (Dechunk(raw, &plain) || result.truncated) raw = std::move(plain);
      }
      if (raw.size() > max_answer) {
        raw.resize(max_answer);
        result.truncated = true;
      }
      result.body = std::move(raw);
      co_return result;
    }
  }
  result.error = ec ? ec.message() : "malformed HTTP answer from the service";
  co_return result;
}

}  // namespace vg
