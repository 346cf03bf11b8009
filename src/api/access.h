// Who may reach the control API, and where it listens: the checks the server applies before a
// request reaches a handler, kept free of any networking library so they are tested as plain
// functions.
//
// Contract: pure functions except PrepareUnixSocketPath, which creates directories and probes an
// existing socket file (it never removes anything). Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace vg {

struct HostPort {
  std::string host;  // an IP literal as written; "localhost" becomes "127.0.0.1"
  int port = 0;      // 0..65535; 0 asks for an ephemeral port
};

// "127.0.0.1:7861", "[::1]:7861", "localhost:0". Anything else → kInvalidArgument.
Result<HostPort> ParseHostPort(std::string_view host_port);

// Whether a Host header names this machine's loopback: "localhost", "127.x.y.z", "[::1]", each
// with or without ":port".
bool IsLoopbackHost(std::string_view host_header);

// Whether an Authorization header is "Bearer <token>" (scheme case-insensitive), comparing the
// token in time that does not depend on where it differs.
bool BearerMatches(std::string_view authorization, std::string_view token);

// The dashboard's page and files (`/`, `/assets/…`): served without the token, they hold no
// secret (docs/dashboard.md).
bool IsDashboardPath(std::string_view path);

// A request's head as the access rules see it; header values as sent, "" when absent.
struct RequestHead {
  std::string_view method;
  std::string_view path;  // the target before '?'
  std::string_view host;
  std::string_view origin;
  std::string_view sec_fetch_site;
  std::string_view authorization;
};

struct TcpAccessPolicy {
  std::string_view token;         // empty: no token (the listener is then on loopback)
  bool public_read = false;       // [daemon] http_public_read: GET/HEAD without the token
  bool loopback_listener = true;  // the listener's address is a loopback one
};

struct AccessRefusal {
  int status = 403;  // 401 or 403
  std::string error;
  std::string hint;
};

// A state-changing request (any method but GET/HEAD) whose `Sec-Fetch-Site` is `cross-site`, or
// whose `Origin` is present and is not `http://<Host>` or `https://<Host>`, is refused (403): a
// web page elsewhere must not make the daemon act (CSRF). Clients that are not browsers send no
// Origin. The server applies it on every listener (a browser may reach the Unix socket through a
// tunnel); CheckTcpAccess includes it. nullopt: allowed.
std::optional<AccessRefusal> CheckCrossSite(const RequestHead& head);

// docs/api.md "Authentication", in this order:
//  1. CheckCrossSite (CSRF), token or not.
//  2. With a token, an `Authorization` header that is sent must carry it (401 otherwise). Without
//     one, only GET/HEAD of the dashboard's files, and with public_read every GET/HEAD, pass;
//     anything else gets 401.
//  3. A request that passes without a token on a loopback listener needs a Host that names
//     loopback, or none (403 otherwise): no web page reaches it through DNS rebinding.
// nullopt: allowed.
std::optional<AccessRefusal> CheckTcpAccess(const RequestHead& head, const TcpAccessPolicy& policy);

// Readies `path` for a new listening socket: creates missing parent directories with mode 0700,
// then checks what is there. Nothing, or a socket nobody accepts on (stale) → ok, to be replaced;
// a socket someone accepts on → kRefused "another vramguard daemon is listening on PATH"; any
// other file → kRefused (never removed).
Result<void> PrepareUnixSocketPath(const std::string& path);

}  // namespace vg
