// Default locations: the config file, the state directory and the control socket.
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "config/config.h"

namespace vg {
namespace {

// An XDG base directory variable: only absolute values count (the XDG base directory spec).
std::optional<std::string> XdgDir(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> value = env(name);
  if (!value || value->empty() || value->front() != '/') return std::nullopt;
  while (value->size() > 1 && value->back() == '/') value->pop_back();
  return value;
}

std::string Home(const EnvLookup& env) {
  std::optional<std::string> home = env("HOME");
  if (!home || home->empty()) return "/";
  while (home->size() > 1 && home->back() == '/') home->pop_back();
  return *home;
}

}  // namespace

void ApplyDefaults(Config* config, const DefaultPaths& defaults) {
  if (config->daemon.state_dir.empty()) config->daemon.state_dir = defaults.state_dir;
  if (config->daemon.socket.empty()) config->daemon.socket = defaults.socket;
}

DefaultPaths DefaultPathsFor(bool root, const EnvLookup& env) {
  DefaultPaths out;
  if (root) {
    out.state_dir = "/var/lib/vramguard";
    out.socket = "/run/vramguard/vramguard.sock";
  } else {
    std::optional<std::string> state_home = XdgDir(env, "XDG_STATE_HOME");
    out.state_dir = (state_home ? *state_home : Home(env) + "/.local/state") + "/vramguard";
    std::optional<std::string> runtime = XdgDir(env, "XDG_RUNTIME_DIR");
    out.socket = runtime ? *runtime + "/vramguard.sock" : out.state_dir + "/vramguard.sock";
  }
  if (std::optional<std::string> socket = env("VRAMGUARD_SOCKET"); socket && !socket->empty()) {
    out.socket = *socket;
  }
  return out;
}

DefaultPaths DefaultPathsForCurrentUser() { return DefaultPathsFor(geteuid() == 0, ProcessEnv()); }

std::string DefaultConfigPathFor(bool root, const EnvLookup& env) {
  if (std::optional<std::string> path = env("VRAMGUARD_CONFIG"); path && !path->empty()) {
    return *path;
  }
  if (root) return "/etc/vramguard/vramguard.toml";
  std::optional<std::string> config_home = XdgDir(env, "XDG_CONFIG_HOME");
  return (config_home ? *config_home : Home(env) + "/.config") + "/vramguard/vramguard.toml";
}

std::string DefaultConfigPath() { return DefaultConfigPathFor(geteuid() == 0, ProcessEnv()); }

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value != nullptr) return std::string(value);
    if (name == "HOME") {
      // getpwuid_r: HOME is unset under some service managers.
      char buf[4096];
      passwd pw{};
      passwd* found = nullptr;
      if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr &&
          found->pw_dir != nullptr) {
        return std::string(found->pw_dir);
      }
    }
    return std::nullopt;
  };
}

}  // namespace vg
