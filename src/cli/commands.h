// The subcommands. Each takes its parsed options and returns a Result: the exit status on
// success (0, or a documented non-zero for "done, but the outcome is bad"), or an Error that main
// prints as one line and maps to an exit status (docs/cli.md).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "ops/reaper.h"
#include "util/error.h"
#include "util/units.h"

namespace vg {

struct GpusOptions {
  bool json = false;
};
Result<int> RunGpus(const GpusOptions& o);

struct PsOptions {
  bool json = false;
  bool all = false;  // also monitors (device node open, no context)
};
Result<int> RunPs(const PsOptions& o);

struct ReapOptionsCli {
  std::vector<std::string> pids;  // as typed, validated by RunReap
  std::string service;
  bool ghosts = false;
  bool orphans = false;
  bool dry_run = false;
  bool yes = false;
  bool json = false;
  std::string grace = "10s";
  std::string timeout = "10s";  // how long to wait for the driver to give memory back
};
Result<int> RunReap(const ReapOptionsCli& o);

// The progress line of a reap's wait for its targets (the grace countdown).
std::string ReapWaitText(const ReapWait& w);
std::string ReapWaitKey(const ReapWait& w);

// Exit status of `reap` when the processes are gone but the memory did not come back.
inline constexpr int kExitMemoryNotBack = 8;

}  // namespace vg
