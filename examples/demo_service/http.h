// A deliberately small HTTP/1.1 server side for the demo service: read one request from a
// connected socket with strict limits and a deadline, write one response, close.
//
// Limits: the request line and headers at most HttpLimits::max_head bytes (else 431), a body at
// most max_body bytes (else 413) announced by Content-Length (Transfer-Encoding is refused with
// 411: this server reads no chunked bodies), and the whole request within the deadline (else 408),
// so a slow or silent client cannot hold a worker. Every response says "Connection: close".
// One exception: `POST /upload` (an image upload's stand-in) may send up to max_upload bytes; they
// are read in 64 KiB pieces and counted and checksummed (Adler-32, as zlib computes it), never
// kept — what the proxy's tests need to see that a large body arrived whole.
//
// Functions are thread-safe; each socket belongs to one caller at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vg::demo {

struct HttpLimits {
  std::size_t max_head = 8 * 1024;
  std::size_t max_body = 64 * 1024;
  std::size_t max_upload = std::size_t{256} << 20;  // POST /upload
};

inline constexpr std::string_view kUploadPath = "/upload";

// What POST /upload received: its size and Adler-32 (zlib's adler32 of the same bytes).
struct UploadDigest {
  std::uint64_t bytes = 0;
  std::uint32_t adler32 = 1;
  void Add(std::string_view data);
};

struct HttpRequest {
  std::string method;  // "GET", "POST", … as sent
  std::string target;  // "/generate"; any query string stays attached
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::size_t content_length = 0;
  std::optional<UploadDigest> upload;  // POST /upload: the body, counted instead of kept

  // The path without the query string.
  std::string_view Path() const;
  // The value of header `name` (lower-case), or empty.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  // A handler that takes the connection over (a WebSocket upgrade) sets `takeover` instead of an
  // answer: the server writes nothing and calls it on a thread of its own with the connected
  // socket and the bytes it had read past the request's head. The server keeps the fd: it closes
  // it when the call returns and shuts it down (both ways) on Shutdown, so the call must not
  // close it (dup it for a library that wants one of its own) and must return once reads fail.
  using Takeover = std::function<void(int fd, std::string early)>;

  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
  Takeover takeover;
};

// Why a request could not be read: the status to answer with (0: the peer went away, answer
// nothing) and a message for the error body.
struct HttpError {
  int status = 400;
  std::string message;
};

// Parses a request head: the text up to and including the blank line. Fills method, target,
// headers and content_length; leaves body empty.
std::expected<HttpRequest, HttpError> ParseHead(std::string_view head, const HttpLimits& limits);

// Reads one request from `fd` (a connected stream socket), waiting at most until `deadline`.
// `early`, when given, receives the bytes read past the request (an upgraded protocol's first).
std::expected<HttpRequest, HttpError> ReadRequest(int fd, const HttpLimits& limits,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  std::string* early = nullptr);

// "HTTP/1.1 200 OK\r\n…\r\n\r\nbody" with Content-Length and Connection: close.
std::string SerializeResponse(const HttpResponse& response);

// Writes the response, giving up at `deadline` (a client that does not read).
void WriteResponse(int fd, const HttpResponse& response,
                   std::chrono::steady_clock::time_point deadline);

// A JSON response; text from the request (an unknown parameter's name) may be invalid UTF-8:
// replaced, never thrown on.
HttpResponse JsonResponse(int status, const nlohmann::json& body);
// {"error": message} with `status`.
HttpResponse ErrorResponse(int status, const std::string& message);

// `s` without leading and trailing spaces and tabs.
std::string_view TrimBlanks(std::string_view s);

// The reason phrase for a status code ("Not Found").
std::string_view ReasonPhrase(int status);

}  // namespace vg::demo
