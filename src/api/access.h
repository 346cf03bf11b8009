// Who may reach the control API, and where it listens: the checks the server applies before a
// request reaches a handler, kept free of any networking library so they are tested as plain
// functions.
//
// Contract: pure functions except PrepareUnixSocketPath, which creates directories and probes an
// existing socket file (it never removes anything). Thread-compatible.
#pragma once

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

// Readies `path` for a new listening socket: creates missing parent directories with mode 0700,
// then checks what is there. Nothing, or a socket nobody accepts on (stale) → ok, to be replaced;
// a socket someone accepts on → kRefused "another vramguard daemon is listening on PATH"; any
// other file → kRefused (never removed).
Result<void> PrepareUnixSocketPath(const std::string& path);

}  // namespace vg
