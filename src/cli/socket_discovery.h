// Which control socket the CLI talks to, without exported variables where it can (docs/cli.md,
// "Finding the daemon"). A name the user gave wins and is the only one tried: --socket, then
// $VRAMGUARD_SOCKET, then the socket of the config named by --config, then by $VRAMGUARD_CONFIG.
// Nothing named: the default config's socket (when that file exists and sets one), the user's
// default socket, the system daemon's default socket, in that order; the first that answers
// (or refuses this user: its error says so) is used. When none answers, the error names every
// socket tried.
//
// Pure: the environment, the config files and the sockets are given as values and functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "util/error.h"

namespace vg {

struct SocketInputs {
  std::string flag_socket;     // --socket
  std::string env_socket;      // $VRAMGUARD_SOCKET
  std::string flag_config;     // --config
  std::string env_config;      // $VRAMGUARD_CONFIG
  std::string default_config;  // the config file a daemon started without --config reads
  // The socket a daemon started with this config listens on (its [daemon] socket, else the
  // default); kNotFound when the file does not exist, another error when it does not parse.
  std::function<Result<std::string>(const std::string& config)> config_socket;
  std::string user_socket;    // the user's default ($XDG_RUNTIME_DIR/vramguard.sock, …)
  std::string system_socket;  // the system daemon's (/run/vramguard/vramguard.sock)
};

struct SocketCandidate {
  std::string path;
  std::string source;  // "--socket", "your default socket", …
};

// In the order they are tried, each path once. A config named by --config or $VRAMGUARD_CONFIG
// that cannot be read is an error naming it.
Result<std::vector<SocketCandidate>> SocketCandidates(const SocketInputs& in);

enum class SocketProbe {
  kAnswers,  // connect() succeeded
  kAbsent,   // no such file, or nothing listening (ECONNREFUSED)
  kDenied,   // a daemon is there, but this user may not connect (its error says what to do)
};

// The first candidate that answers or is denied; none: kNotFound naming every one tried.
Result<std::string> ChooseSocket(const std::vector<SocketCandidate>& candidates,
                                 const std::function<SocketProbe(const std::string&)>& probe);

}  // namespace vg
