// The CLI's side of the control API: synchronous HTTP/JSON requests to the daemon's Unix socket.
//
// Contract:
//  - Each call opens its own connection (one request, then close) and runs a private event
//    loop on the calling thread; no threads, nothing shared between calls. An ApiClient is a
//    value (the socket path); copies are independent.
//  - Transport failures are Errors: no socket file → kNotFound "the vramguard daemon is not
//    running (no socket at PATH)"; nobody listening → kNotFound "… (stale socket PATH)"; EACCES
//    → kPermissionDenied naming the path; no complete answer within `timeout` → kTimeout.
//  - Any HTTP answer, 4xx and 5xx included, is a ClientResponse: the caller reads the daemon's
//    {"error", "hint"} (ErrorFromResponse in http.h turns it into an Error).
//  - Stream() has no overall timeout (a follow can last for hours); it returns when the server
//    ends the stream or on_line returns false. A non-2xx answer to it is returned as the Error
//    ErrorFromResponse builds from the daemon's body.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace vg {

struct ClientResponse {
  int status = 0;
  std::string body;
  nlohmann::json json;  // null when the body is not JSON
};

class ApiClient {
 public:
  static ApiClient ForUnixSocket(std::string path);

  // `target` is the path and query, e.g. "/v1/services/i2v/stop". A body is sent as JSON.
  Result<ClientResponse> Request(std::string_view method, std::string_view target,
                                 const std::optional<nlohmann::json>& body = std::nullopt,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // GET `target` with Accept: text/event-stream; calls on_line with each SSE `data:` line (or,
  // if the server answers with plain text, each line). Lines come without their newline.
  Result<void> Stream(std::string_view target,
                      const std::function<bool(std::string_view line)>& on_line);

  const std::string& socket_path() const { return path_; }

 private:
  explicit ApiClient(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace vg
