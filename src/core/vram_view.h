// The VRAM view: who holds memory on each GPU, joined from what the driver lists (NVML) and what
// the kernel shows (/proc: device nodes open, device nodes mapped, the process tree).
//
// Pure: takes snapshots, returns a value. The rules (docs/gpu-facts.md):
//  - A PID NVML lists that is dead (absent or a zombie) is a ghost: its memory is held by live
//    processes that inherited its device files (forked workers).
//  - A live process with /dev/nvidia<N> mapped holds a context on GPU N. If NVML does not list it,
//    it shares someone's context: a listed live ancestor's, or a ghost's. Ghost attribution: the
//    ghost whose pid is the holder's session or process group (a fork keeps both), else the only
//    ghost on that GPU, else it stays unattributed (still a ghost holder).
//  - A process with the node open but not mapped holds no context: a monitor (nvidia-smi,
//    exporters, vramguard itself). On a GPU with a ghost that no mapping holder explains, such
//    processes are *possible* holders — shown, never reaped unless named by PID.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpu/gpu_probe.h"
#include "proc/process.h"

namespace vg {

enum class Role {
  kRunning,   // listed by NVML, alive, parent alive and not init
  kOrphan,    // listed by NVML, alive, parent is init or a subreaper that is not ours
  kGhost,     // listed by NVML, dead: its memory is held by others
  kHolder,    // maps the device node, not listed: holds a ghost's or a live process's context
  kMonitor,   // device node open, no mapping: holds no VRAM
  kPossible,  // device node open, no mapping, on a GPU with an unexplained ghost
};
const char* RoleName(Role r);

struct VramEntry {
  pid_t pid = 0;
  Role role = Role::kRunning;
  std::optional<Bytes> used;           // NVML's figure (kRunning, kOrphan, kGhost)
  bool used_known = false;             // NVML listed the pid (used may still be unknown)
  bool orphan = false;                 // parent is init/foreign subreaper (for holders too)
  std::optional<pid_t> holds_for;      // kHolder/kPossible: the listed pid whose context it holds
  bool attributed_by_session = false;  // holds_for came from sid/pgid: it was forked by it
  std::vector<pid_t> holders;          // kGhost: live processes holding its memory
  bool is_self = false;                // vramguard itself (a monitor)
};

struct GpuView {
  GpuInfo gpu;
  unsigned minor = 0;              // the device node this GPU is /dev/nvidia<minor>
  std::vector<VramEntry> entries;  // listed processes and ghosts first (by pid), then the rest
};

struct VramViewInput {
  GpuSnapshot snapshot;
  std::vector<ProcessInfo> processes;  // the process table (Detail::kBasic is enough)
  HolderScan holders;
  pid_t self = 0;
  std::vector<pid_t> our_subreapers;  // a child of one of these is not an orphan (the daemon)
  bool nested_pid_namespace = false;  // NVML pids are host pids and may not be ours
};

struct VramView {
  std::vector<GpuView> gpus;
  std::map<pid_t, ProcessInfo> processes;  // every process the view mentions that is alive
  int unreadable = 0;                      // processes whose fds could not be inspected
  bool nested_pid_namespace = false;
  std::vector<std::string> warnings;  // shown to the user as they are

  const ProcessInfo* Find(pid_t pid) const;
  // Every entry on every GPU with this pid.
  std::vector<std::pair<const GpuView*, const VramEntry*>> EntriesFor(pid_t pid) const;
};

VramView BuildVramView(const VramViewInput& input);

// Process names of well-known monitors: open the device nodes, hold no memory.
bool IsKnownMonitor(const ProcessInfo& p);

}  // namespace vg
