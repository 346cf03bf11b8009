// The control API's HTTP vocabulary, free of any networking library: requests and responses as
// plain values, streaming responses, the router, and the JSON-body and error helpers.
//
// Contract:
//  - Handlers are pure functions of an HttpRequest and the route's path parameters. They run on
//    the daemon's io_context thread and must not block it.
//  - Errors on the wire are always `{"error": "...", "hint": "..."}` (hint omitted when empty)
//    with the status that names the failure (ErrorResponse maps vg::ErrorCode to one).
//  - A handler that returns a StreamStarter gets, once the response headers are queued, a
//    ResponseStream it may keep and write to later from the same thread. Every ResponseStream
//    call happens on the io_context thread; writes are queued and sent in order without blocking
//    the loop; a client whose queue exceeds kMaxStreamQueue is disconnected. Dropping the last
//    reference to a stream closes it.
//  - A handler that returns a DeferredResponse answers later: `start` is called with a Responder
//    once the handler returned, and the response is sent when the Responder is called (once, on
//    the io_context thread; later calls, and calls after the client left, do nothing). The
//    connection may read and dispatch further (pipelined) requests meanwhile, but their
//    responses are sent after this one (server.h, "Pipelining"). (The job API uses it to
//    acknowledge a submission only after the group commit that made it durable.)
//  - Router::Dispatch never throws: unknown path → 404, known path with another method → 405
//    with Allow, a handler exception → 500 whose body does not contain the exception's text (the
//    text goes to the observer set with OnHandlerException, for the daemon's log).
// Not thread-safe: build the Router before the server runs, then only Dispatch (const).
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace vg {

struct HttpRequest {
  std::string method;                          // "GET", "POST", … as sent
  std::string target;                          // "/v1/services/i2v/logs?follow=1", as sent
  std::string path;                            // target before '?', still percent-encoded
  std::map<std::string, std::string> query;    // decoded; a repeated key keeps the last value
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined with ", "
  std::string body;
  bool trusted_transport = false;  // arrived on the Unix socket (owner-only, mode 0600)

  // The header's value, or "" when absent. `name` must be lower-case.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers, e.g. {"Allow", "GET, POST"}

  static HttpResponse Json(int status, const nlohmann::json& j);
  // {"error": error, "hint": hint}; "hint" is left out when empty.
  static HttpResponse Error(int status, std::string error, std::string hint = {});
};

// Maps an error from the layers below to its HTTP status: kInvalidArgument → 400,
// kNotFound → 404, kPermissionDenied → 403, kRefused → 409, kTimeout → 504, others → 500.
int HttpStatusFor(ErrorCode code);
HttpResponse ErrorResponse(const vg::Error& error);

// The inverse, for clients: a non-2xx status and its {"error","hint"} body as an Error
// (400, 422 → kInvalidArgument, 401/403 → kPermissionDenied, 404 → kNotFound, 409 → kRefused,
// 504 → kTimeout, others → kInternal). Falls back to "HTTP <status>" when the body has no "error".
vg::Error ErrorFromResponse(int status, const nlohmann::json& body);

// The largest number of bytes a ResponseStream may have queued before its client is dropped.
inline constexpr std::size_t kMaxStreamQueue = std::size_t{4} << 20;

class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues one event (SSE: one `data:` event, one `data:` line per line of `chunk` — lines end
  // at LF, CRLF or a lone CR — with a trailing line end dropped) or one chunk (text/plain).
  // Returns false once the client is gone, the stream was closed, or this write pushed the queue
  // past kMaxStreamQueue (the client is then disconnected). An empty chunk is an empty event in
  // SSE and sends nothing in plain text.
  virtual bool Write(std::string_view chunk) = 0;
  // Write with an event id: in SSE an `id: <id>` line before the data (CR, LF and NUL dropped
  // from the id), so a browser's EventSource sends it back as `Last-Event-ID` when it
  // reconnects; in text/plain the same as Write(chunk).
  virtual bool WriteEvent(std::string_view id, std::string_view chunk) = 0;
  // Ends the response after what is queued; the connection may then serve another request.
  virtual void Close() = 0;
  // True after Close(), or once the client disconnected or the server stopped.
  virtual bool closed() const = 0;
};

using StreamStarter = std::function<void(std::shared_ptr<ResponseStream>)>;
using Responder = std::function<void(HttpResponse)>;
struct DeferredResponse {
  std::function<void(Responder)> start;
};
using HandlerResult = std::variant<HttpResponse, StreamStarter, DeferredResponse>;
using PathParams = std::map<std::string, std::string>;
using Handler = std::function<HandlerResult(const HttpRequest&, const PathParams&)>;

class Router {
 public:
  // `pattern` is a path of literal segments and `{name}` parameters: "/v1/services/{name}/start".
  // Parameters match one whole, non-empty segment and arrive percent-decoded. Where two patterns
  // match a path, the one with more literal segments wins, then the one added first.
  void Add(std::string method, std::string pattern, Handler handler);

  HandlerResult Dispatch(const HttpRequest& request) const;

  // Called with the route pattern and the exception's what() when a handler throws.
  void OnHandlerException(std::function<void(std::string_view, std::string_view)> observer);
  // Used by the server when a StreamStarter throws; calls the observer if one is set.
  void ReportException(std::string_view where, std::string_view what) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" for a parameter
    int literal_count = 0;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::function<void(std::string_view, std::string_view)> observer_;
};

// A handler-level result whose failure is a ready-made response.
template <class T>
using HttpResult = std::expected<T, HttpResponse>;

// The request's JSON body. An empty body gives a null json. A non-empty body needs
// `Content-Type: application/json` (parameters such as charset allowed), else 415; a body that
// does not parse, or nests deeper than kMaxJsonDepth (util/json_limits.h, checked before
// parsing), gives 400 with a hint. Untrusted input is parsed without exceptions.
HttpResult<nlohmann::json> ParseJsonBody(const HttpRequest& request);

// Percent-decoding for path segments (`plus_is_space` false) and query parts (true).
// Malformed escapes ("%4", "%zz") → kInvalidArgument.
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Splits a request target into its still-encoded path and its decoded query parameters.
Result<void> SplitTarget(std::string_view target, std::string& path,
                         std::map<std::string, std::string>& query);

}  // namespace vg
