#include "http.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>

namespace vg::demo {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Milliseconds left until `deadline` for poll(), at least 0.
int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// Waits until `fd` is ready for `events`; false when the deadline passed first.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, MillisLeft(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Reads what is available into `buffer`, at most `max` bytes in all. 0 on EOF, -1 on error or
// timeout (sets *timed_out).
long ReadSome(int fd, std::string* buffer, std::size_t max, Clock::time_point deadline,
              bool* timed_out) {
  if (!WaitFor(fd, POLLIN, deadline)) {
    *timed_out = true;
    return -1;
  }
  char chunk[4096];
  std::size_t want = std::min(sizeof chunk, max - buffer->size());
  ssize_t n;
  do {
    n = ::recv(fd, chunk, want, 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) buffer->append(chunk, static_cast<std::size_t>(n));
  return n;
}

}  // namespace

void UploadDigest::Add(std::string_view data) {
  constexpr std::uint32_t kMod = 65521;
  std::uint32_t a = adler32 & 0xffff, b = adler32 >> 16;
  for (unsigned char c : data) {
    a = (a + c) % kMod;
    b = (b + a) % kMod;
  }
  adler32 = (b << 16) | a;
  bytes += data.size();
}

std::string_view HttpRequest::Path() const {
  std::string_view t(target);
  return t.substr(0, t.find('?'));
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

std::expected<HttpRequest, HttpError> ParseHead(std::string_view head, const HttpLimits& limits) {
  auto bad = [](std::string message) {
    return std::unexpected(HttpError{400, std::move(message)});
  };
  HttpRequest request;
  auto line_end = head.find("\r\n");
  if (line_end == std::string_view::npos) return bad("malformed request line");
  std::string_view line = head.substr(0, line_end);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return bad("malformed request line");
  request.method = std::string(line.substr(0, sp1));
  request.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(request.method) || request.target.empty() || request.target.front() != '/' ||
      request.target.find(' ') != std::string::npos) {
    return bad("malformed request line");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return std::unexpected(HttpError{505, "only HTTP/1.0 and HTTP/1.1 are supported"});
  }

  bool has_length = false;
  std::string_view rest = head.substr(line_end + 2);
  while (!rest.empty() && !rest.starts_with("\r\n")) {
    auto end = rest.find("\r\n");
    if (end == std::string_view::npos) return bad("malformed header");
    std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    auto colon = field.find(':');
    if (colon == std::string_view::npos || !IsToken(field.substr(0, colon))) {
      return bad("malformed header");
    }
    std::string name = Lower(field.substr(0, colon));
    std::string_view value = TrimBlanks(field.substr(colon + 1));
    if (name == "transfer-encoding") {
      return std::unexpected(HttpError{411, "send the body with Content-Length, not chunked"});
    }
    if (name == "content-length") {
      std::size_t length = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec != std::errc() || p != value.data() + value.size() ||
          (has_length && length != request.content_length)) {
        return bad("invalid Content-Length");
      }
      const bool upload = request.method == "POST" && request.Path() == kUploadPath;
      if (length > (upload ? limits.max_upload : limits.max_body)) {
        return std::unexpected(HttpError{
            413, "the body is larger than " + std::to_string(limits.max_body) + " bytes"});
      }
      request.content_length = length;
      has_length = true;
    }
    request.headers.emplace_back(std::move(name), std::string(value));
  }
  return request;
}

std::expected<HttpRequest, HttpError> ReadRequest(int fd, const HttpLimits& limits,
                                                  Clock::time_point deadline, std::string* early) {
  std::string buffer;
  std::size_t head_end = std::string::npos;
  const std::size_t max_total = limits.max_head + limits.max_body;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() >= limits.max_head) {
      return std::unexpected(HttpError{
          431, "the request head is larger than " + std::to_string(limits.max_head) + " bytes"});
    }
    bool timed_out = false;
    long n = ReadSome(fd, &buffer, max_total, deadline, &timed_out);
    if (timed_out) return std::unexpected(HttpError{408, "the request took too long to arrive"});
    if (n <= 0) return std::unexpected(HttpError{0, "the client went away"});
  }
  if (head_end + 4 > limits.max_head) {
    return std::unexpected(HttpError{
        431, "the request head is larger than " + std::to_string(limits.max_head) + " bytes"});
  }
  auto request = ParseHead(std::string_view(buffer).substr(0, head_end + 4), limits);
  if (!request) return request;
  std::size_t body_start = head_end + 4;
  if (request->method == "POST" && request->Path() == kUploadPath) {
    // Counted and checksummed as it arrives, never kept whole.
    UploadDigest digest;
    std::size_t left = request->content_length;
    std::string_view early = std::string_view(buffer).substr(body_start);
    early = early.substr(0, std::min(early.size(), left));
    digest.Add(early);
    left -= early.size();
    std::string piece;
    while (left > 0) {
      piece.clear();
      bool timed_out = false;
      long n = ReadSome(fd, &piece, std::min<std::size_t>(left, 64 * 1024), deadline, &timed_out);
      if (timed_out) return std::unexpected(HttpError{408, "the request took too long to arrive"});
      if (n <= 0) return std::unexpected(HttpError{0, "the client went away"});
      digest.Add(piece);
      left -= static_cast<std::size_t>(n);
    }
    request->upload = digest;
    return request;
  }
  std::size_t want = body_start + request->content_length;
  while (buffer.size() < want) {
    bool timed_out = false;
    long n = ReadSome(fd, &buffer, want, deadline, &timed_out);
    if (timed_out) return std::unexpected(HttpError{408, "the request took too long to arrive"});
    if (n <= 0) return std::unexpected(HttpError{0, "the client went away"});
  }
  request->body = buffer.substr(body_start, request->content_length);
  if (early != nullptr) *early = buffer.substr(want);
  return request;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string SerializeResponse(const HttpResponse& response) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(ReasonPhrase(response.status)) + "\r\n";
  out += "Content-Type: " + response.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  for (const auto& [name, value] : response.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  out += response.body;
  return out;
}

void WriteResponse(int fd, const HttpResponse& response, Clock::time_point deadline) {
  std::string data = SerializeResponse(response);
  std::size_t sent = 0;
  while (sent < data.size()) {
    if (!WaitFor(fd, POLLOUT, deadline)) return;
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  return {status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

HttpResponse ErrorResponse(int status, const std::string& message) {
  return JsonResponse(status, {{"error", message}});
}

}  // namespace vg::demo
