// Which processes belong to a running service instance: a pure function of a process-table
// snapshot, the instance's main pid and tag, and its cgroup's members.
//
// A service is the whole tree it started, however its processes tried to leave it: the main
// process and its descendants (by ppid), every live process carrying the instance tag in its
// environment (children that setsid'd and were reparented to the daemon or to init), every
// member of the instance's cgroup, and the descendants of all of those. Zombies are left out
// (they hold nothing and cannot be signalled usefully), and so are the daemon itself and
// pid ≤ 1, whatever the input says. No I/O; callers pass the snapshot.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "proc/process.h"

namespace vg {

struct MembershipInput {
  std::vector<ProcessInfo> processes;  // Detail::kFull for our uid, so instance_tag is set
  pid_t main_pid = 0;                  // 0 when the main process is gone
  std::string tag;                     // the instance tag; empty matches nothing
  std::vector<pid_t> cgroup_members;   // cgroup.procs of the instance's group (may be empty)
  pid_t daemon_pid = 0;
};

// Members of the instance, sorted and unique. A cgroup member missing from `processes` (started
// after the snapshot) is still a member: the kernel says so. A main pid missing from
// `processes` has exited and is left out.
std::vector<pid_t> ServiceMembers(const MembershipInput& input);

}  // namespace vg
