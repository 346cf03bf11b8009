// The control API's HTTP server: the Router's handlers served on a Unix socket (the CLI's
// transport) and optionally on TCP (dashboard, remote API), on the daemon's one io_context.
//
// Contract:
//  - Everything is asynchronous on the io_context given to the constructor: many idle
//    connections cost no threads. Call every method on that io_context's thread, or while it is
//    not running. The Router must outlive the server; handlers run on the io_context thread.
//  - ListenUnix(path): creates the parent directory (0700) when missing; refuses a path that
//    exists and is not a socket; a socket nobody answers on (ECONNREFUSED) is stale and replaced;
//    one that answers → kRefused "another vramguard daemon is listening on PATH". The socket is
//    bound under a temporary name, chmod 0600, then renamed into place, so it is never reachable
//    with looser permissions. Stop() removes it (only if it is still this server's socket).
//    Requests on it have trusted_transport = true; the only check is CheckCrossSite's (a browser
//    can reach the socket through a tunnel).
//  - ListenTcp("HOST:PORT", IPv6 as "[::1]:PORT", port 0 = ephemeral, see tcp_port()): refuses
//    (kRefused) a non-loopback HOST when options.token is empty. Each TCP request passes
//    CheckTcpAccess (api/access.h) before its body is read: a cross-site state-changing request
//    gets 403 (CSRF); with a token, `Authorization: Bearer <token>` (compared in constant time)
//    is needed but for GET/HEAD of the dashboard's files, or of anything with
//    options.public_read, else 401; a request passing without a token on a loopback listener
//    needs a loopback Host (403 otherwise), so web pages cannot reach it through DNS rebinding.
//  - Limits (docs/api.md "Limits"), each answered with a one-line JSON error and the connection
//    closed: request headers kMaxHeaderBytes in all (431) and kMaxHeaderFields fields (431),
//    body options.body_limit (413), malformed HTTP (400), JSON nested deeper than kMaxJsonDepth
//    (400, api/http.h), more than options.max_requests_per_second requests per second on one
//    connection (429, Retry-After: 1; a burst of options.request_burst is allowed), more than
//    options.max_connections open connections (503 on the new one), more than
//    options.max_streams open streaming responses (event or log follows: 503). A connection that
//    sends nothing for options.idle_timeout (or does not take its response in that time) is
//    closed; streams are exempt (their queue limit, kMaxStreamQueue, applies instead). Keep-alive
//    is supported; `Expect: 100-continue` is answered.
//  - Pipelining: while answers are pending (a DeferredResponse not yet answered, a response not
//    yet written) the connection reads and dispatches the next requests, in order, up to
//    kMaxPipelineDepth requests whose responses are not fully written; responses go out in
//    request order (a later answer waits for the earlier ones). Nothing after a request whose
//    answer closes the connection (an error above, `Connection: close`) is read; a streaming
//    response starts once every response before it is written, and nothing after it is read
//    until it ends. The rate limit, token and Host checks apply to each request as it is read.
//    A client that half-closes after its requests gets every answer, then the connection closes.
//  - Stop() closes listeners and every connection (open streams see closed()); the destructor
//    calls it. Streams a handler still holds stay safe to call and return false; they hold
//    their connection's socket, so drop them before destroying the io_context.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "util/error.h"

namespace boost::asio {
class io_context;
}

namespace vg {

namespace api_internal {
struct ServerState;
struct Listener;
}  // namespace api_internal

inline constexpr std::size_t kMaxHeaderBytes = 16 * 1024;  // request line and headers
inline constexpr std::size_t kMaxHeaderFields = 100;
// Pipelining: requests one connection may have read whose responses are not yet written.
inline constexpr std::size_t kMaxPipelineDepth = 16;
// The defaults of ApiServerOptions' per-connection rate limit.
inline constexpr double kMaxRequestsPerSecond = 200;  // sustained, per connection
inline constexpr double kRequestBurst = 400;          // requests a connection may send at once

struct ApiServerOptions {
  std::size_t body_limit = std::size_t{1} << 20;
  // Required for TCP off loopback; when set, required for every TCP request but GET/HEAD of the
  // dashboard's files (`/`, `/assets/…`), and of any path when public_read is set.
  std::string token;
  bool public_read = false;
  // Milliseconds so tests can use short ones; assigning std::chrono::seconds works too.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Connections beyond this get a 503 and are closed as soon as they are accepted.
  std::size_t max_connections = 1024;
  // Streaming responses (follows) open at once beyond this get a 503.
  std::size_t max_streams = 64;
  // Requests per second one connection may send, sustained, and at once (a token bucket);
  // beyond them: 429. max_requests_per_second = 0: no limit (a batch client on one connection).
  double max_requests_per_second = kMaxRequestsPerSecond;
  double request_burst = kRequestBurst;
  // A listener whose router holds only read-only routes (the metrics listener): TCP anywhere
  // without a token, and any Host header (a scraper may name the machine as it likes).
  bool open_read_only = false;
};

class ApiServer {
 public:
  ApiServer(boost::asio::io_context& io, const Router& router, ApiServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Result<void> ListenUnix(const std::string& path);
  Result<void> ListenTcp(const std::string& host_port);
  void Stop();

  // The port the first TCP listener is bound to (useful after ListenTcp("127.0.0.1:0")).
  std::optional<int> tcp_port() const;
  // Connections currently open (for tests and the daemon's status).
  std::size_t connection_count() const;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<api_internal::ServerState> state_;
  std::vector<std::shared_ptr<api_internal::Listener>> listeners_;
  std::optional<int> tcp_port_;
  std::string unix_path_;  // empty when not listening on a Unix socket
  dev_t unix_dev_ = 0;     // identity of the socket file this server created
  ino_t unix_ino_ = 0;
};

}  // namespace vg
