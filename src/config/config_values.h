// The small value grammars of the config file, each a pure function of one string.
//
// Used by ParseConfig and reusable by the daemon and the CLI (a --signal flag, the TCP listener's
// address). Each returns an Error whose message names the bad text and whose hint shows how to
// write it. Pure, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_types.h"
#include "util/error.h"
#include "util/units.h"

namespace vg {

// "SIGTERM", "TERM", "sigterm", "15": SIGTERM. Names: HUP INT QUIT KILL USR1 USR2 TERM, with or
// without "SIG"; numbers 1..64.
Result<int> ParseSignal(std::string_view text);
// "SIGTERM" for the named ones, else "signal 42".
std::string SignalName(int signal);

// "no", "on-failure", "always".
Result<RestartWhen> ParseRestartWhen(std::string_view text);
std::string_view RestartWhenName(RestartWhen when);

// "1s..60s" (first delay, cap) or "5s" (fixed delay). 0 < min <= max.
struct Backoff {
  Millis min{0};
  Millis max{0};
};
Result<Backoff> ParseBackoff(std::string_view text);

// "5 in 10m": at most 5 starts within 10 minutes. count >= 1, window > 0.
struct StartLimit {
  int count = 0;
  Millis window{0};
};
Result<StartLimit> ParseStartLimit(std::string_view text);

// "127.0.0.1:7861", "localhost:7861", "[::1]:7861", "0.0.0.0:7861". host keeps no brackets.
// loopback: localhost, 127.0.0.0/8 or ::1.
struct ListenAddress {
  std::string host;
  int port = 0;
  bool loopback = false;
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

// "redis://[[user]:password@]host[:port][/db]" ([fleet] redis, docs/fleet.md): host a name or
// IPv4 address (or [IPv6]), port 1–65535 (default 6379), db 0–9999 (default 0); nothing after the
// db. "rediss://" (TLS) and "unix://" are refused with the way round (a local tunnel).
struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
};
Result<RedisUrl> ParseRedisUrl(std::string_view text);

// "http://host[:port][/path]" with a non-empty host. https is not accepted: the probes and hooks
// speak plain HTTP to local services.
bool IsHttpUrl(std::string_view url);

// "POST http://127.0.0.1:8188/free" or just the URL (method POST). Methods: GET POST PUT PATCH
// DELETE. The URL may also be a "/path", for the caller to resolve.
struct HttpRequestLine {
  std::string method = "POST";
  std::string url;
};
Result<HttpRequestLine> ParseHttpRequestLine(std::string_view text);

// [a-z0-9][a-z0-9_.-]{0,62}
bool IsValidServiceName(std::string_view name);

// The candidate closest to `key` by edit distance (transpositions count as one edit, case is
// ignored), when close enough to be a plausible typo: distance 1 for keys up to 4 characters,
// 2 above. nullopt when none is.
std::optional<std::string> NearestKey(std::string_view key,
                                      const std::vector<std::string>& candidates);

}  // namespace vg
