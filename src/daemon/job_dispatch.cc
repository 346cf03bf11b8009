#include "daemon/job_dispatch.h"

#include <nlohmann/json.hpp>

#include "core/incident.h"
#include "daemon/http_probe.h"
#include "util/json_limits.h"
#include "util/pattern.h"

namespace vg {

namespace asio = boost::asio;

std::optional<Bytes> TriedToAllocate(const std::string& body) {
  nlohmann::json j = JsonNestingWithin(body, kMaxJsonDepth)
                         ? nlohmann::json::parse(body, nullptr, false)
                         : nlohmann::json(nullptr);
  if (j.is_object() && j.contains("tried_to_allocate_bytes") &&
      j["tried_to_allocate_bytes"].is_number_unsigned())
    return Bytes(j["tried_to_allocate_bytes"].get<std::uint64_t>());
  // One parser of PyTorch's text: core's (the classifier reads the same field from log lines),
  // given the bounded stretch that starts at the phrase (a traceback may come before it).
  std::size_t at = body.find("Tried to allocate");
  if (at == std::string::npos) return std::nullopt;
  return ParseIncidentFields(std::string_view(body).substr(at, kMaxMatchLineBytes),
                             IncidentKind::kOom)
      .requested;
}

JobDispatch::JobDispatch(asio::io_context& io)
    : io_(io), conn_(std::make_shared<HttpConnection>(io)) {}

void JobDispatch::Abort() { conn_->Cancel(); }

asio::awaitable<DispatchResult> JobDispatch::Send(std::string method, std::string url,
                                                  std::string body, Millis timeout,
                                                  std::size_t max_answer) {
  DispatchResult result;
  HttpExchange x = co_await HttpExchangeOnce(io_, std::move(method), url, timeout, std::move(body),
                                             "application/json", max_answer, conn_);
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
  if (x.status >= 100) {
    result.status = x.status;
    result.body = std::move(x.body);
    co_return result;
  }
  result.error = x.ec                   ? x.ec.message()
                 : x.closed             ? "the service closed the connection without answering"
                 : !x.malformed.empty() ? x.malformed + " from the service"
                                        : "malformed HTTP answer from the service";
  co_return result;
}

}  // namespace vg
