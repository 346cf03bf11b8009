// Where the daemon keeps its state when the config names no state_dir, and the database file in
// it. Pure functions: the caller passes the effective UID's root-ness and the environment.
//   root:  /var/lib/vramguard
//   user:  $XDG_STATE_HOME/vramguard, else $HOME/.local/state/vramguard (XDG base directories;
//          a relative XDG_STATE_HOME is ignored, as the specification says)
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace vg {

// Fails (kNotFound) for a user with neither XDG_STATE_HOME nor HOME set.
// Pass empty views for unset variables.
Result<std::string> DefaultStateDir(bool is_root, std::string_view xdg_state_home,
                                    std::string_view home);

// "<state_dir>/state.db".
std::string StateDbPath(std::string_view state_dir);

}  // namespace vg
