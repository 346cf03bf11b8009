#include "store/state_path.h"

namespace vg {

Result<std::string> DefaultStateDir(bool is_root, std::string_view xdg_state_home,
                                    std::string_view home) {
  if (is_root) return std::string("/var/lib/vramguard");
  if (xdg_state_home.starts_with('/')) return std::string(xdg_state_home) + "/vramguard";
  if (home.starts_with('/')) return std::string(home) + "/.local/state/vramguard";
  return Fail(ErrorCode::kNotFound, "no state directory: neither XDG_STATE_HOME nor HOME is set",
              "set state_dir in the [daemon] section of the config");
}

std::string StateDbPath(std::string_view state_dir) {
  std::string path(state_dir);
  if (!path.empty() && !path.ends_with('/')) path += '/';
  return path + "state.db";
}

}  // namespace vg
