#include "daemon/job_dispatch.h"

#include <charconv>
#include <cmath>
#include <regex>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/http_probe.h"

namespace vg {
namespace {

namespace asio = boost::asio;

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
    : io_(io), conn_(std::make_shared<HttpConnection>(io)) {}

void JobDispatch::Abort() { conn_->Cancel(); }

asio::awaitable<DispatchResult> JobDispatch::Send(std::string method, std::string url,
                                                  std::string body, Millis timeout,
                                                  std::size_t max_answer) {
  DispatchResult result;
  // Read a little past the cap so that headers and chunk framing do not eat into the body.
  HttpExchange x = co_await HttpExchangeOnce(io_, std::move(method), url, timeout, std::move(body),
                                             "application/json", max_answer + 16384, conn_);
  if (x.bad_url) {
    result.error = "not an http:// URL: " + url;
    co_return result;
  }
  result.truncated = x.capped;
  if (x.cancelled) {
    result.aborted = true;
    result.error = "cancelled: the connection to the service was closed";
    co_return result;
  }
  if (x.timed_out) {
    result.error = "no answer within " + FormatSeconds(timeout);
    co_return result;
  }
  const std::string& response = x.response;
  auto head_end = response.find("\r\n\r\n");
  if (auto status = HttpStatusOf(response);
      status && *status >= 100 && head_end != std::string::npos) {
    result.status = *status;
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
  result.error = x.ec ? x.ec.message() : "malformed HTTP answer from the service";
  co_return result;
}

}  // namespace vg
