// `vramguard top`: a live view of who holds VRAM (docs/cli.md, "top"). The frame is
// cli/top_view.h's pure function; this is the terminal around it: raw mode (termios, restored on
// every exit path, SIGINT/SIGTERM/SIGHUP included), the alternate screen, keys, a refresh every
// second, and the actions (the daemon's API for services, the reap of `vramguard reap`).
#pragma once

#include "util/error.h"

namespace vg {

struct TopOptions {
  bool once = false;  // one frame on stdout, no raw mode
  bool json = false;  // with --once: the data as one JSON document
};

Result<int> RunTop(const TopOptions& o);

}  // namespace vg
