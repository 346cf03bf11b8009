#include "api/access.h"
#include "util/json_limits.h"
#include "util/strings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <filesystem>

namespace vg {
namespace {

bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

Result<void> MakeParentDirs(const std::string& path) {
  std::filesystem::path current;
  for (const auto& part : std::filesystem::path(path).parent_path()) {
    current /= part;
    if (part == current.root_path()) continue;
    if (::mkdir(current.c_str(), 0700) != 0 && errno != EEXIST) {
      return std::unexpected(
          ErrnoError("cannot create the socket directory " + current.string(), errno));
    }
  }
  return {};
}

// kRefused if a daemon accepts on the socket file at `path`.
Result<void> CheckNoLiveDaemon(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(ErrnoError("socket", errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  int err = errno;
  ::close(fd);
  if (rc == 0) {
    return Fail(ErrorCode::kRefused, "another vramguard daemon is listening on " + path,
                "stop it first, or give this daemon another socket with VRAMGUARD_SOCKET");
  }
  if (err == ECONNREFUSED || err == ENOENT) return {};  // stale: nobody accepts on it
  return std::unexpected(ErrnoError("cannot probe the existing socket " + path, err));
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view host_port) {
  std::string_view host;
  std::string_view port_text;
  if (host_port.starts_with('[')) {
    std::size_t close = host_port.find(']');
    if (close != std::string_view::npos && close + 1 < host_port.size() &&
        host_port[close + 1] == ':') {
      host = host_port.substr(1, close - 1);
      port_text = host_port.substr(close + 2);
    }
  } else if (std::size_t colon = host_port.rfind(':'); colon != std::string_view::npos) {
    host = host_port.substr(0, colon);
    port_text = host_port.substr(colon + 1);
  }
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || port_text.empty() || ec != std::errc() ||
      end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return Fail(ErrorCode::kInvalidArgument,
                "malformed listen address \"" + std::string(host_port) + "\"",
                "write HOST:PORT, e.g. 127.0.0.1:7861 or [::1]:7861");
  }
  return HostPort{AsciiLower(host) == "localhost" ? std::string("127.0.0.1") : std::string(host),
                  port};
}

bool IsLoopbackHost(std::string_view host_header) {
  std::string_view name = host_header;
  if (name.starts_with('[')) {
    std::size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    name = name.substr(1, close - 1);
  } else if (std::size_t colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (AsciiLower(name) == "localhost") return true;
  std::string text(name);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool BearerMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer ";
  if (token.empty() || authorization.size() < kScheme.size() ||
      AsciiLower(authorization.substr(0, kScheme.size())) != kScheme) {
    return false;
  }
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  return ConstantTimeEquals(given, token);
}

bool IsDashboardPath(std::string_view path) {
  return path == "/" || (path.starts_with("/assets/") && path.size() > 8);
}

std::optional<AccessRefusal> CheckCrossSite(const RequestHead& head) {
  if (head.method != "GET" && head.method != "HEAD") {
    if (AsciiLower(head.sec_fetch_site) == "cross-site") {
      return AccessRefusal{403, "cross-site request refused (Sec-Fetch-Site: cross-site)",
                           "change things from the dashboard's own page, or from a client "
                           "that is not a browser (curl, scripts)"};
    }
    if (!head.origin.empty()) {
      const std::string origin = AsciiLower(head.origin);
      const std::string host = AsciiLower(head.host);
      if (host.empty() || (origin != "http://" + host && origin != "https://" + host)) {
        return AccessRefusal{403,
                             "cross-origin request refused: Origin " + AbbreviateText(head.origin) +
                                 " is not this server (Host " + AbbreviateText(head.host) + ")",
                             "change things from the dashboard's own page, or from a client "
                             "that sends no Origin (curl, scripts)"};
      }
    }
  }
  return std::nullopt;
}

std::optional<AccessRefusal> CheckTcpAccess(const RequestHead& head,
                                            const TcpAccessPolicy& policy) {
  if (std::optional<AccessRefusal> refused = CheckCrossSite(head)) return refused;
  const bool read = head.method == "GET" || head.method == "HEAD";
  if (!policy.token.empty()) {
    if (!head.authorization.empty()) {
      if (BearerMatches(head.authorization, policy.token)) return std::nullopt;
      return AccessRefusal{401, "wrong API token",
                           "send the daemon's token as `Authorization: Bearer <token>`"};
    }
    if (!read || !(policy.public_read || IsDashboardPath(head.path))) {
      return AccessRefusal{401, "missing API token",
                           "send the daemon's token as `Authorization: Bearer <token>`"};
    }
  }
  if (policy.loopback_listener && !head.host.empty() && !IsLoopbackHost(head.host)) {
    return AccessRefusal{403, "Host " + AbbreviateText(head.host) + " is not allowed",
                         policy.token.empty()
                             ? "connect through localhost or 127.0.0.1, or give the daemon an "
                               "API token"
                             : "connect through localhost or 127.0.0.1, or send the API token"};
  }
  return std::nullopt;
}

Result<void> PrepareUnixSocketPath(const std::string& path) {
  if (Result<void> made = MakeParentDirs(path); !made) return made;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode)) {
    return Fail(ErrorCode::kRefused, path + " exists and is not a socket",
                "remove it, or choose another path with VRAMGUARD_SOCKET");
  }
  return CheckNoLiveDaemon(path);
}

}  // namespace vg
