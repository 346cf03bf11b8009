// Sending one job to its service: an HTTP/1.1 request with a JSON body over a fresh connection
// (Connection: close), the answer read until the service closes it (Content-Length and chunked
// bodies understood), capped, and bounded by a timeout. Built on http_probe.h's client.
// Cancellable: Abort() closes the connection at once (the service may still finish the work).
// Private to src/daemon (Asio).
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <memory>
#include <optional>
#include <string>

#include "daemon/http_probe.h"
#include "util/units.h"

namespace vg {

struct DispatchResult {
  int status = 0;     // 0: no HTTP answer (see error)
  std::string error;  // connect refused, timeout, aborted, malformed answer …
  std::string body;   // at most the cap
  bool truncated = false;
  bool aborted = false;
};

// What a failed answer says the job asked for beyond what the service held, when it says so: a
// JSON object's "tried_to_allocate_bytes", else PyTorch's "Tried to allocate 7.71 GiB" anywhere
// in the text (B, KiB, MiB, GiB, TiB). nullopt otherwise. Pure.
std::optional<Bytes> TriedToAllocate(const std::string& body);

class JobDispatch {
 public:
  explicit JobDispatch(boost::asio::io_context& io);
  // method and absolute http:// url; body sent as application/json.
  boost::asio::awaitable<DispatchResult> Send(std::string method, std::string url, std::string body,
                                              Millis timeout, std::size_t max_answer);
  void Abort();

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<HttpConnection> conn_;
};

}  // namespace vg
