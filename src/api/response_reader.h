// One HTTP/1.x response reader for the daemon's outgoing requests (probes, webhooks, job
// dispatch): Beast's response parser behind a byte-feeding interface, so callers that own the
// socket (src/daemon, Asio only) never parse HTTP themselves.
//
// Contract:
//  - Feed() the bytes as they arrive, then FeedEof() when the peer closed. The reader decodes
//    Content-Length, chunked (chunk extensions and trailers included) and read-until-close bodies.
//  - Limits: headers at most kMaxResponseHeaderBytes (else an error); the body is kept up to
//    `max_body` bytes: past that, reading stops with truncated() and the first max_body bytes.
//    Malformed framing (a chunk size that overflows, a bad status line) ends with an error,
//    never a loop and never more memory than max_body plus one Feed.
//  - state() is kNeedMore until the message is complete (kDone), the body passed the cap
//    (kDone with truncated()), or the bytes are not HTTP (kError, see error()).
// Not thread-safe; pure (no I/O).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace vg {

inline constexpr std::size_t kMaxResponseHeaderBytes = 16 * 1024;

class HttpResponseReader {
 public:
  enum class State { kNeedMore, kDone, kError };

  explicit HttpResponseReader(std::size_t max_body);
  ~HttpResponseReader();
  HttpResponseReader(const HttpResponseReader&) = delete;
  HttpResponseReader& operator=(const HttpResponseReader&) = delete;

  // Parses what it can of `bytes` (bytes after a complete message are ignored).
  State Feed(std::string_view bytes);
  // The peer closed the connection: completes a read-until-close body, else an incomplete
  // message is an error ("the answer ended early").
  State FeedEof();

  State state() const { return state_; }
  int status() const;               // 0 until the status line was read
  const std::string& body() const;  // decoded, at most max_body bytes
  bool truncated() const { return truncated_; }
  const std::string& error() const { return error_; }  // one line, set in kError

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  State state_ = State::kNeedMore;
  bool truncated_ = false;
  std::string error_;
};

}  // namespace vg
