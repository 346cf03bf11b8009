// The reap plan: exactly which processes to signal for a reap request, which NVML entries their
// death must make disappear, and why every other candidate is left alone.
//
// Pure. Refusals are errors (the whole request is refused, nothing is signalled): PID 1, vramguard
// itself or its ancestors, a PID that does not exist, a process that holds no VRAM (no device
// node open), another user's process when not root. Descendants of targets are added (a forked
// worker keeps the context alive); descendants that may not be signalled are skipped with a note.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/vram_view.h"

namespace vg {

enum class ReapMode { kPids, kGhosts, kOrphans };

struct ReapRequest {
  ReapMode mode = ReapMode::kPids;
  std::vector<pid_t> pids;  // kPids only
};

struct Caller {
  pid_t pid = 0;
  uid_t uid = 0;                 // effective uid; 0 = root, may signal anyone
  std::vector<pid_t> ancestors;  // parent, grandparent, … (never signalled)
};

struct ReapTarget {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // checked again when the pidfd is opened
  uid_t uid = 0;
  std::string user;
  std::string command;
  std::string reason;  // "holds the memory of exited 526 on GPU 0", "descendant of 547"
};

// An NVML entry the reap must make disappear: the memory the targets account for.
struct ExpectedRelease {
  unsigned gpu = 0;
  pid_t listed_pid = 0;        // the pid NVML lists (may be a ghost's)
  std::optional<Bytes> bytes;  // NVML's figure; nullopt when the driver did not say
};

struct ReapPlan {
  std::vector<ReapTarget> targets;
  std::vector<ExpectedRelease> releases;
  std::vector<std::string> notes;  // what was left alone and why, shown to the user

  Bytes ExpectedBytes() const;
};

Result<ReapPlan> PlanReap(const VramView& view, const std::vector<ProcessInfo>& table,
                          const ReapRequest& request, const Caller& caller);

// The caller's ancestors from the process table (parent first).
std::vector<pid_t> AncestorsOf(pid_t pid, const std::vector<ProcessInfo>& table);

}  // namespace vg
