#include "config/config_values.h"

#include "util/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <csignal>

namespace vg {
namespace {

// A whole string of decimal digits as an int; nullopt otherwise (no sign, no spaces).
std::optional<int> WholeNumber(std::string_view s) {
  int value = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.front() == '-') return std::nullopt;
  return value;
}

struct NamedSignal {
  const char* name;
  int number;
};
constexpr NamedSignal kSignals[] = {
    {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGKILL", SIGKILL},
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGTERM", SIGTERM},
};

// Optimal string alignment distance, case-insensitive.
std::size_t EditDistance(std::string_view a_in, std::string_view b_in) {
  std::string a = AsciiLower(a_in), b = AsciiLower(b_in);
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

bool IsIpv4Loopback(std::string_view host) {
  // 127.a.b.c with each part a number 0..255.
  if (!host.starts_with("127.")) return false;
  int parts = 0;
  while (!host.empty()) {
    std::size_t dot = host.find('.');
    std::string_view part = host.substr(0, dot);
    std::optional<int> n = WholeNumber(part);
    if (!n || *n > 255 || part.size() > 3) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
    if (host.empty()) return false;
  }
  return parts == 4;
}

}  // namespace

Result<int> ParseSignal(std::string_view text) {
  std::string upper = AsciiUpper(TrimSpace(text));
  for (const NamedSignal& s : kSignals) {
    if (upper == s.name || upper == std::string_view(s.name).substr(3)) return s.number;
  }
  if (std::optional<int> n = WholeNumber(upper); n && *n >= 1 && *n <= 64) return *n;
  return Fail(ErrorCode::kInvalidArgument, "invalid signal '" + std::string(text) + "'",
              "write SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGKILL or a number");
}

std::string SignalName(int signal) {
  for (const NamedSignal& s : kSignals) {
    if (s.number == signal) return s.name;
  }
  return "signal " + std::to_string(signal);
}

Result<RestartWhen> ParseRestartWhen(std::string_view text) {
  if (text == "no") return RestartWhen::kNo;
  if (text == "on-failure") return RestartWhen::kOnFailure;
  if (text == "always") return RestartWhen::kAlways;
  return Fail(ErrorCode::kInvalidArgument, "invalid restart policy '" + std::string(text) + "'",
              "write \"no\", \"on-failure\" or \"always\"");
}

std::string_view RestartWhenName(RestartWhen when) {
  switch (when) {
    case RestartWhen::kNo:
      return "no";
    case RestartWhen::kOnFailure:
      return "on-failure";
    case RestartWhen::kAlways:
      return "always";
  }
  return "on-failure";
}

Result<Backoff> ParseBackoff(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument, "invalid backoff '" + std::string(text) + "'" + why,
                "write the first delay and the cap, like \"1s..60s\", or one fixed delay");
  };
  std::size_t dots = text.find("..");
  std::string_view first = dots == std::string_view::npos ? text : text.substr(0, dots);
  std::string_view second = dots == std::string_view::npos ? text : text.substr(dots + 2);
  Result<Millis> min = ParseDuration(first);
  Result<Millis> max = ParseDuration(second);
  if (!min || !max) return bad("");
  if (min->count() <= 0) return bad(": the first delay must be above zero");
  if (*min > *max) return bad(": the first delay is longer than the cap");
  return Backoff{*min, *max};
}

Result<StartLimit> ParseStartLimit(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid start limit '" + std::string(text) + "'" + why,
                "write how many starts within how long, like \"5 in 10m\"");
  };
  std::string_view t = TrimSpace(text);
  std::size_t space = t.find(' ');
  if (space == std::string_view::npos) return bad("");
  std::optional<int> count = WholeNumber(t.substr(0, space));
  std::string_view rest = TrimSpace(t.substr(space));
  if (!count || !rest.starts_with("in ")) return bad("");
  Result<Millis> window = ParseDuration(TrimSpace(rest.substr(3)));
  if (!window) return bad("");
  if (*count < 1) return bad(": the count must be at least 1");
  if (window->count() <= 0) return bad(": the window must be above zero");
  return StartLimit{*count, *window};
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid listen address '" + std::string(text) + "'" + why,
                "write host:port, like \"127.0.0.1:7861\" or \"[::1]:7861\"");
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad("");
  std::string_view host = text.substr(0, colon);
  std::optional<int> port = WholeNumber(text.substr(colon + 1));
  if (!port || *port < 1 || *port > 65535) return bad(": the port must be 1..65535");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad(": put an IPv6 address in brackets");
  }
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':') {
      return bad("");
    }
  }
  ListenAddress out;
  out.host = std::string(host);
  out.port = *port;
  out.loopback = host == "localhost" || host == "::1" || IsIpv4Loopback(host);
  return out;
}

bool IsHttpUrl(std::string_view url) {
  if (!url.starts_with("http://")) return false;
  std::string_view rest = url.substr(7);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.front() == ':') return false;
  for (char c : url) {
    if (std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

Result<HttpRequestLine> ParseHttpRequestLine(std::string_view text) {
  static constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  std::string_view t = TrimSpace(text);
  HttpRequestLine out;
  std::size_t space = t.find(' ');
  if (space != std::string_view::npos) {
    std::string_view method = t.substr(0, space);
    if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
      return Fail(ErrorCode::kInvalidArgument, "invalid HTTP method '" + std::string(method) + "'",
                  "write GET, POST, PUT, PATCH or DELETE, then the URL");
    }
    out.method = std::string(method);
    t = TrimSpace(t.substr(space));
  }
  if (!IsHttpUrl(t) && !(t.starts_with("/") && t.find(' ') == std::string_view::npos)) {
    return Fail(ErrorCode::kInvalidArgument, "invalid URL '" + std::string(t) + "'",
                "write an http:// URL, like \"POST http://127.0.0.1:8188/free\"");
  }
  out.url = std::string(t);
  return out;
}

bool IsValidServiceName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_or_digit(c) || c == '_' || c == '.' || c == '-'; });
}

std::optional<std::string> NearestKey(std::string_view key,
                                      const std::vector<std::string>& candidates) {
  std::size_t limit = key.size() <= 4 ? 1 : 2;
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    std::size_t d = EditDistance(key, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

Result<RedisUrl> ParseRedisUrl(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(text) + "': " + why,
                "write redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0");
  };
  if (text.size() > 512) return Fail(ErrorCode::kInvalidArgument, "the URL is over 512 bytes");
  if (text.starts_with("rediss://"))
    return Fail(ErrorCode::kInvalidArgument, "TLS (rediss://) is not supported",
                "reach a TLS Redis through a local tunnel (stunnel, ssh -L) and write "
                "redis://127.0.0.1:PORT (docs/fleet.md)");
  if (!text.starts_with("redis://")) return bad("not a redis:// URL");
  std::string_view rest = text.substr(8);
  RedisUrl out;
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::size_t colon = auth.find(':');
    if (colon == std::string_view::npos) return bad("write user:password@ or :password@");
    out.user = std::string(auth.substr(0, colon));
    out.password = std::string(auth.substr(colon + 1));
    if (out.password.empty()) return bad("the password after ':' is empty");
  }
  std::string_view hostport = rest;
  std::string_view db;
  if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    db = rest.substr(slash + 1);
    if (db.empty()) return bad("nothing after '/': give the database number or drop the '/'");
  }
  std::string_view port;
  if (hostport.starts_with('[')) {
    std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) return bad("'[' without ']'");
    out.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("expected ':PORT' after ']'");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
    for (char c : out.host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return bad("not an IPv6 address inside [ ]");
  } else {
    std::size_t colon = hostport.find(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
    for (char c : out.host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        return bad("the host may hold letters, digits, '.', '-' and '_' only");
  }
  if (out.host.empty()) return bad("no host");
  if (out.host.size() > 253) return bad("the host is over 253 bytes");
  auto number = [](std::string_view s, int max) -> std::optional<int> {
    if (s.empty() || s.size() > 5) return std::nullopt;
    int v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    if (v > max) return std::nullopt;
    return v;
  };
  if (!port.empty()) {
    auto p = number(port, 65535);
    if (!p || *p == 0) return bad("the port must be a number from 1 to 65535");
    out.port = *p;
  }
  if (!db.empty()) {
    auto d = number(db, 9999);
    if (!d) return bad("the database must be a number from 0 to 9999 (no path, no query)");
    out.db = *d;
  }
  return out;
}

}  // namespace vg
