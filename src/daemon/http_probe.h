// Minimal HTTP/1.1 and TCP probes for the daemon loop: readiness, liveness and release hooks.
// One request per connection (Connection: close), plain http:// only, bodies capped at 64 KiB,
// every step bounded by the timeout. Also the alert webhooks' POST (alerts.cc). Private to
// src/daemon (includes Asio).
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <string>

#include "util/units.h"

namespace vg {

struct HttpProbeResult {
  int status = 0;     // 0: no HTTP answer (see error)
  std::string error;  // connect refused, timeout, malformed URL, …
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

// `body`, when not empty, is sent with `content_type` (default application/json).
boost::asio::awaitable<HttpProbeResult> HttpRequestOnce(boost::asio::io_context& io,
                                                        std::string method, std::string url,
                                                        Millis timeout, std::string body = {},
                                                        std::string content_type = {});

boost::asio::awaitable<bool> TcpConnectOnce(boost::asio::io_context& io, std::string host, int port,
                                            Millis timeout);

}  // namespace vg
