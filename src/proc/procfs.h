// ProcessSource backed by procfs: the process table, one process in full detail, and the holders
// of the NVIDIA device nodes, read from `proc_root` ("/proc", or a fixture tree in tests).
//
// Contract:
//  - List/Get/ScanDeviceHolders/ListWithHolders never throw; a process that vanishes while it is
//    read (ENOENT or ESRCH) is skipped, so results are a consistent "who existed during the call".
//  - List(kBasic/kFull) and Get read each process's files through a descriptor of its /proc/<pid>
//    directory, so the fields of one ProcessInfo all come from one process even if its pid is
//    recycled meanwhile. List(kTree) reads one file per process (stat; the owner from fstat).
//  - List(kBasic) reads stat, status and cmdline; kFull (and Get) also cwd and environ (for
//    kInstanceTagVar). Fields the caller may not read (cwd, environ of another user's process)
//    stay nullopt. comm comes from stat (identical to /proc/<pid>/comm).
//  - ListWithHolders is ScanDeviceHolders and List(kTree)'s rows in one pass over /proc. Links
//    are read with readlink only; /proc/<pid>/maps only for processes holding a node.
//    kAll: per process stat, then the fd links (not for kernel threads and zombies, which hold no
//    fds); a holder is reported only if its stat descriptor, opened first, still reads the same
//    process after its fds and maps were read. kHolders (and ScanDeviceHolders): per process the
//    fd links first; stat only for holders and processes whose fds cannot be read, opened with
//    maps through "<pid>/fd/.." (bound to the process whose fds were read). Either way a
//    recycled pid never joins one process's row with another's device nodes (procfs.cc,
//    TreeReader).
//  - `device_dir` is canonicalised (realpath) at construction when it exists, because the kernel
//    shows resolved paths in fd links and maps. The calling process itself is reported like any
//    other.
//  - What a process's files say beyond its stat (owner, NSpid, argv; for kFull also cwd and the
//    instance tag) is kept between calls, keyed by pid, start time and comm: List(kBasic/kFull)
//    and Get read only the stat of a process they have read before, and the rest only for new
//    processes — a whole-table read of a machine whose processes did not change costs one file
//    per process, not five. An exec changes comm (and so is read afresh); what is given up is a
//    process that rewrites its own argv or cwd or changes its uid without changing comm: it shows
//    what it had when first read. Each whole-table List keeps only the processes it saw.
//  - Not thread-safe; a ProcfsSource holds no descriptors between calls.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "proc/process.h"
#include "proc/procfs_parse.h"
#include "util/error.h"

namespace vg {

class ProcfsSource final : public ProcessSource {
 public:
  explicit ProcfsSource(std::string proc_root = "/proc", const std::string& device_dir = "/dev");
  ~ProcfsSource() override;
  ProcfsSource(ProcfsSource&&) noexcept;
  ProcfsSource& operator=(ProcfsSource&&) noexcept;

  Result<std::vector<ProcessInfo>> List(Detail detail) override;
  Result<ProcessInfo> Get(pid_t pid) override;
  Result<HolderScan> ScanDeviceHolders() override;
  Result<std::optional<DeviceHolder>> HolderOf(pid_t pid) override;
  Result<TableAndHolders> ListWithHolders(TableRows rows) override;
  // /proc/<pid>/task/*/children: one small read per thread of pid.
  Result<std::vector<pid_t>> Children(pid_t pid) override;

  // The (canonical) directory searched for nvidia<N> / nvidiactl, for messages.
  const std::string& device_dir() const { return device_dir_; }
  const std::string& proc_root() const { return proc_root_; }
  // How many processes' details are kept (see the contract above): for tests.
  std::size_t KnownProcesses() const;

  // What is kept of one process between calls (procfs.cc).
  struct Known;
  class KnownTable;

 private:
  std::string proc_root_;
  std::string device_dir_;
  std::unique_ptr<KnownTable> known_;
};

// Reads <proc_root>/<pid>/stat. kNotFound when the process does not exist.
Result<procfs::StatFields> ReadProcStat(const std::string& proc_root, pid_t pid);

// Reads <proc_root>/<pid>/status. kNotFound when the process does not exist.
Result<procfs::StatusFields> ReadProcStatus(const std::string& proc_root, pid_t pid);

// The user name for uid (getpwuid_r), or the number as a string when it has none.
std::string UserNameForUid(uid_t uid);

}  // namespace vg
