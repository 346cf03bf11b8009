// Who listens on a TCP port: /proc/net/tcp and tcp6 give the socket inode of a LISTEN entry,
// and /proc/<pid>/fd links of the form "socket:[inode]" give the process.
//
// Reading other users' fds needs root; a listener whose owner cannot be seen is still reported
// with pid 0. Parsing is separated from reading so it is unit-tested on text.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace vg {

struct PortListener {
  int port = 0;
  std::uint64_t inode = 0;
  pid_t pid = 0;  // 0: owner not visible (another user's process, or a socket without a process)
};

// Socket inodes of LISTEN entries (state 0A) on `port` in /proc/net/tcp(6) text.
std::vector<std::uint64_t> ParseListenInodes(std::string_view proc_net_tcp, int port);

// Listeners on `port` now, with owners where visible. proc_root: "/proc" or a fixture tree.
Result<std::vector<PortListener>> FindPortListeners(int port,
                                                    const std::string& proc_root = "/proc");

}  // namespace vg
