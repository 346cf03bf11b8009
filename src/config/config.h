// Reading the configuration: TOML text → validated Config, or every problem with its line:col.
//
// ParseConfig never throws and never stops at the first problem: it reports all of them, sorted
// by position, each as "file:line:col: message". Unknown keys are errors (with the nearest valid
// key suggested), so a typo never silently falls back to a default. What it resolves:
//   - relative paths (cwd, state_dir, socket, token_file) against the config file's directory,
//   - a service's cwd to that directory when unset, its url from its first port when unset,
//   - "/path" URLs of ready, liveness and release hooks against http://127.0.0.1:<first port>.
// What it leaves to ApplyDefaults: the daemon's state_dir and socket when the file does not set
// them, which depend on who runs the daemon (root or not) and on the environment.
//
// The key reference is docs/config.md. All functions are thread-compatible; DefaultPaths* and
// DefaultConfigPath read the environment.
#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_types.h"

namespace vg {

using ConfigResult = std::expected<Config, std::vector<ConfigDiagnostic>>;

// Parses and validates `text`; `file_name` names it in diagnostics and is the base of relative
// paths.
ConfigResult ParseConfig(std::string_view text, const std::string& file_name);

// Reads `path` (a missing or unreadable file is one diagnostic at line 0), then ParseConfig.
ConfigResult LoadConfig(const std::string& path);

// Where the daemon keeps its state and listens when the config does not say.
struct DefaultPaths {
  std::string state_dir;
  std::string socket;
};

// Fills what the file left empty: daemon.state_dir and daemon.socket.
void ApplyDefaults(Config* config, const DefaultPaths& defaults);

// Reads one environment variable; nullopt when unset. Injected so tests need no setenv.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// root: /var/lib/vramguard and /run/vramguard/vramguard.sock. Otherwise $XDG_STATE_HOME/vramguard
// (default $HOME/.local/state/vramguard) and $XDG_RUNTIME_DIR/vramguard.sock (without
// XDG_RUNTIME_DIR: <state_dir>/vramguard.sock). $VRAMGUARD_SOCKET, when set, is the socket.
// Relative XDG values are ignored, as the XDG spec says.
DefaultPaths DefaultPathsFor(bool root, const EnvLookup& env);
DefaultPaths DefaultPathsForCurrentUser();  // geteuid() and the process environment

// $VRAMGUARD_CONFIG; else /etc/vramguard/vramguard.toml for root; else
// $XDG_CONFIG_HOME/vramguard/vramguard.toml (default $HOME/.config/vramguard/vramguard.toml).
std::string DefaultConfigPathFor(bool root, const EnvLookup& env);
std::string DefaultConfigPath();

// The process environment, with HOME falling back to the password database.
EnvLookup ProcessEnv();

}  // namespace vg
