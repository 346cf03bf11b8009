#include "cli/socket_discovery.h"

#include <algorithm>

#include <fmt/format.h>

namespace vg {

Result<std::vector<SocketCandidate>> SocketCandidates(const SocketInputs& in) {
  if (!in.flag_socket.empty()) return std::vector<SocketCandidate>{{in.flag_socket, "--socket"}};
  if (!in.env_socket.empty()) {
    return std::vector<SocketCandidate>{{in.env_socket, "VRAMGUARD_SOCKET"}};
  }
  for (const auto& [config, named_by] :
       {std::pair{in.flag_config, "--config"}, std::pair{in.env_config, "VRAMGUARD_CONFIG"}}) {
    if (config.empty()) continue;
    Result<std::string> socket = in.config_socket(config);
    if (!socket) {
      Error e = socket.error();
      e.message = fmt::format("{} names {}: {}", named_by, config, e.message);
      return std::unexpected(e);
    }
    return std::vector<SocketCandidate>{{*socket, fmt::format("{} {}", named_by, config)}};
  }
  std::vector<SocketCandidate> out;
  auto add = [&](const std::string& path, std::string source) {
    if (path.empty()) return;
    if (std::ranges::any_of(out, [&](const SocketCandidate& c) { return c.path == path; })) return;
    out.push_back({path, std::move(source)});
  };
  // A default config that is missing or broken is no reason to fail: the defaults follow.
  if (!in.default_config.empty()) {
    if (Result<std::string> socket = in.config_socket(in.default_config)) {
      add(*socket, "the config " + in.default_config);
    }
  }
  add(in.user_socket, "your default socket");
  add(in.system_socket, "the system daemon's socket");
  return out;
}

Result<std::string> ChooseSocket(const std::vector<SocketCandidate>& candidates,
                                 const std::function<SocketProbe(const std::string&)>& probe) {
  std::string tried;
  for (const SocketCandidate& c : candidates) {
    if (probe(c.path) != SocketProbe::kAbsent) return c.path;
    tried += fmt::format("{}{} ({})", tried.empty() ? "" : ", ", c.path, c.source);
  }
  const bool named = candidates.size() == 1 && (candidates[0].source.starts_with("--") ||
                                                candidates[0].source.starts_with("VRAMGUARD_"));
  return std::unexpected(Error{
      ErrorCode::kNotFound, fmt::format("no vramguard daemon answers (tried {})", tried),
      named ? "start it with `vramguard up` (with that config or socket)"
            : "start one with `vramguard up`, or name its socket (--socket, VRAMGUARD_SOCKET) or "
              "its config (--config, VRAMGUARD_CONFIG)"});
}

}  // namespace vg
