#include "api/http.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include "util/json_limits.h"
#include "util/strings.h"

namespace vg {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = path.starts_with('/') ? 1 : 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    segments.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view HttpRequest::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

HttpResponse HttpResponse::Json(int status, const nlohmann::json& j) {
  HttpResponse response;
  response.status = status;
  // Replace invalid UTF-8 (from a service's name or output) instead of throwing.
  response.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse HttpResponse::Error(int status, std::string error, std::string hint) {
  nlohmann::json j = {{"error", std::move(error)}};
  if (!hint.empty()) j["hint"] = std::move(hint);
  return Json(status, j);
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kRefused:
      return 409;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kNoDriver:
    case ErrorCode::kDriverError:
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

HttpResponse ErrorResponse(const vg::Error& error) {
  return HttpResponse::Error(HttpStatusFor(error.code), error.message, error.hint);
}

vg::Error ErrorFromResponse(int status, const nlohmann::json& body) {
  ErrorCode code = ErrorCode::kInternal;
  if (status == 400 || status == 413 || status == 415 || status == 422 || status == 431) {
    code = ErrorCode::kInvalidArgument;
  } else if (status == 401 || status == 403) {
    code = ErrorCode::kPermissionDenied;
  } else if (status == 404) {
    code = ErrorCode::kNotFound;
  } else if (status == 409) {
    code = ErrorCode::kRefused;
  } else if (status == 504) {
    code = ErrorCode::kTimeout;
  } else if (status == 503) {
    code = ErrorCode::kUnavailable;
  }
  vg::Error error{code, "HTTP " + std::to_string(status), {}};
  if (body.is_object()) {
    auto message = body.find("error");
    if (message != body.end() && message->is_string()) error.message = message->get<std::string>();
    auto hint = body.find("hint");
    if (hint != body.end() && hint->is_string()) error.hint = hint->get<std::string>();
  }
  return error;
}

void Router::Add(std::string method, std::string pattern, Handler handler) {
  Route route;
  route.method = std::move(method);
  route.segments = SplitPath(pattern);
  route.literal_count =
      static_cast<int>(std::count_if(route.segments.begin(), route.segments.end(),
                                     [](const std::string& s) { return !IsParam(s); }));
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

HandlerResult Router::Dispatch(const HttpRequest& request) const {
  std::vector<std::string> raw = SplitPath(request.path);
  std::vector<std::string> segments;
  segments.reserve(raw.size());
  for (const std::string& segment : raw) {
    Result<std::string> decoded = PercentDecode(segment, false);
    if (!decoded) return HttpResponse::Error(400, "malformed percent-encoding in the request path");
    segments.push_back(std::move(*decoded));
  }

  const Route* best = nullptr;
  PathParams best_params;
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    PathParams params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = route.segments[i];
      if (IsParam(want)) {
        if (segments[i].empty())
          match = false;
        else
          params[want.substr(1, want.size() - 2)] = segments[i];
      } else if (want != segments[i]) {
        match = false;
      }
    }
    if (!match) continue;
    allowed.insert(route.method);
    if (route.method != request.method) continue;
    if (best == nullptr || route.literal_count > best->literal_count) {
      best = &route;
      best_params = std::move(params);
    }
  }

  if (best == nullptr && allowed.empty()) {
    return HttpResponse::Error(
        404,
        "no such endpoint: " + AbbreviateText(request.method) + " " + AbbreviateText(request.path),
        "see docs/api.md for the endpoints");
  }
  if (best == nullptr) {
    std::string allow;
    for (const std::string& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
    HttpResponse response = HttpResponse::Error(
        405, AbbreviateText(request.method) + " is not allowed on " + AbbreviateText(request.path),
        "use " + allow);
    response.headers["Allow"] = allow;
    return response;
  }
  try {
    return best->handler(request, best_params);
  } catch (const std::exception& e) {
    ReportException(best->pattern, e.what());
  } catch (...) {
    ReportException(best->pattern, "unknown exception");
  }
  return HttpResponse::Error(
      500, "internal error while handling " + AbbreviateText(request.method) + " " + best->pattern,
      "this is a bug in vramguard; the daemon's log has the details");
}

void Router::OnHandlerException(std::function<void(std::string_view, std::string_view)> observer) {
  observer_ = std::move(observer);
}

void Router::ReportException(std::string_view where, std::string_view what) const {
  if (observer_) observer_(where, what);
}

HttpResult<nlohmann::json> ParseJsonBody(const HttpRequest& request) {
  if (request.body.empty()) return nlohmann::json();
  std::string_view content_type = request.Header("content-type");
  std::string media = AsciiLower(TrimSpace(content_type.substr(0, content_type.find(';'))));
  if (media != "application/json") {
    return std::unexpected(HttpResponse::Error(
        415,
        content_type.empty() ? std::string("the request body has no Content-Type")
                             : "unsupported Content-Type " + AbbreviateText(content_type),
        "send the body as JSON with Content-Type: application/json"));
  }
  if (!JsonNestingWithin(request.body, kMaxJsonDepth)) {
    return std::unexpected(HttpResponse::Error(
        400, "the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels",
        "send a flatter JSON document"));
  }
  nlohmann::json parsed = nlohmann::json::parse(request.body, nullptr, false);
  if (parsed.is_discarded()) {
    return std::unexpected(HttpResponse::Error(
        400, "the request body is not valid JSON",
        "send one JSON document, e.g. {\"resolution\": 768}; check quotes and commas"));
  }
  return parsed;
}

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    "malformed percent-escape in \"" + std::string(text) + "\"");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<void> SplitTarget(std::string_view target, std::string& path,
                         std::map<std::string, std::string>& query) {
  std::size_t question = target.find('?');
  path = std::string(target.substr(0, question));
  query.clear();
  if (question == std::string_view::npos) return {};
  std::string_view rest = target.substr(question + 1);
  if (std::size_t hash = rest.find('#'); hash != std::string_view::npos)
    rest = rest.substr(0, hash);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    Result<std::string> key = PercentDecode(part.substr(0, eq), true);
    Result<std::string> value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    if (!key) return std::unexpected(key.error());
    if (!value) return std::unexpected(value.error());
    query[std::move(*key)] = std::move(*value);
  }
  return {};
}

}  // namespace vg
