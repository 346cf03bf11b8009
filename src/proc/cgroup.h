// cgroup v2 for services: one group per service under the daemon's own cgroup, so every process
// a service starts — double-forked, setsid'd, reparented anywhere — can be listed and killed.
//
// Contract:
//  - Detect() finds the cgroup v2 mount (`root`, or `root`/unified on hybrid systems), the
//    daemon's own cgroup (the "0::" line of /proc/self/cgroup) and checks that children can be
//    created and processes moved there. It fails, with the reason, when cgroup v2 is not mounted
//    (kNotFound), when our cgroup is the hierarchy's root (kPermissionDenied: its top level
//    belongs to the init system) or not writable (kPermissionDenied). The daemon then goes on
//    without cgroups.
//  - No controller is ever enabled: with an empty cgroup.subtree_control, moving processes into
//    child groups stays legal while the daemon itself lives in the parent.
//  - Service groups are <base>/vramguard-<name>. Paths passed in and returned are absolute
//    directories in the mounted hierarchy.
//  - Nothing here blocks beyond small reads and writes of cgroupfs files. Thread-compatible: a
//    CgroupManager is an immutable value after Detect.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace vg {

class CgroupManager {
 public:
  // See the contract above. `root` is where cgroupfs is mounted.
  static Result<CgroupManager> Detect(const std::string& root = "/sys/fs/cgroup");
  // Uses `base`, an existing writable cgroup v2 directory, as the parent of service groups:
  // for tests and for a group an operator delegated explicitly. kNotFound when it is not a
  // cgroup v2 directory, kPermissionDenied when it is not writable.
  static Result<CgroupManager> AtBase(std::string base);

  // <base>/vramguard-<name>; creating it when missing, so calling it again is harmless.
  // kInvalidArgument for a name that is empty, ".", ".." or contains '/'.
  Result<std::string> Create(const std::string& name);
  // Pids in cgroup.procs of `cgroup` and of all its descendant groups, sorted, unique.
  // kNotFound when the group does not exist.
  Result<std::vector<pid_t>> Members(const std::string& cgroup) const;
  // SIGKILL to every member at once through cgroup.kill (Linux ≥ 5.14); elsewhere the group is
  // frozen where cgroup.freeze exists, each member killed, and the group thawed. A missing
  // group is success (nothing left to kill).
  Result<void> KillAll(const std::string& cgroup) const;
  // Removes the group (and empty descendant groups). A missing group is success; kRefused when
  // processes are still in it.
  Result<void> Remove(const std::string& cgroup) const;

  const std::string& base() const { return base_; }

 private:
  explicit CgroupManager(std::string base) : base_(std::move(base)) {}
  std::string base_;
};

// The cgroup v2 mount for `root`: root itself, or root/unified on a hybrid v1+v2 system.
// kNotFound with the reason otherwise.
Result<std::string> FindCgroup2Mount(const std::string& root = "/sys/fs/cgroup");

// The v2 path in /proc/<pid>/cgroup text: the "0::<path>" line ("/" for the root). nullopt
// when there is none (pure cgroup v1).
std::optional<std::string> ParseCgroup2Path(std::string_view proc_cgroup);

}  // namespace vg
