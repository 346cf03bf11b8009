// The process layer's data and interfaces: who runs on this machine, who has the GPU device
// nodes open or mapped, and how to signal a process without ever hitting a recycled PID.
//
// Production implementations read /proc (procfs.h) and use pidfds (pidfd_signaller.h); tests use
// FakeProcessSource and FakeSignaller (src/testing/). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace vg {

// The environment variable that tags every process of a supervised service instance.
inline constexpr const char* kInstanceTagVar = "VRAMGUARD_INSTANCE";

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  uid_t uid = 0;
  std::string user;                // name for uid, or the number when it has none
  std::uint64_t start_time = 0;    // /proc/<pid>/stat field 22, clock ticks since boot
  char state = '?';                // R, S, D, Z, T, …
  std::string comm;                // /proc/<pid>/comm
  std::vector<std::string> argv;   // /proc/<pid>/cmdline; empty for kernel threads and zombies
  std::optional<std::string> cwd;  // nullopt when unreadable (another user's process)
  std::vector<pid_t> nspid;        // NSpid: from this namespace inward; size 1 when not nested
  std::optional<std::string> instance_tag;  // value of VRAMGUARD_INSTANCE in its environment

  bool IsZombie() const { return state == 'Z' || state == 'X'; }
  // "python3 main.py --port 7860", or "[comm]" when argv is empty.
  std::string CommandLine() const;
};

// A process that has GPU device nodes open. Minor numbers identify GPUs (/dev/nvidia<minor>).
struct DeviceHolder {
  pid_t pid = 0;
  std::vector<unsigned> open_minors;    // /dev/nvidia<N> open as a file descriptor
  std::vector<unsigned> mapped_minors;  // /dev/nvidia<N> in /proc/<pid>/maps: holds a context
  bool opens_ctl = false;               // has /dev/nvidiactl open
};

struct HolderScan {
  std::vector<DeviceHolder> holders;  // sorted by pid
  int unreadable = 0;                 // processes whose fds could not be read (permission)
};

// Which processes ListWithHolders gives a table row.
enum class TableRows {
  kAll,  // every process, as List(Detail::kTree)
  // Holders, and the processes whose fds could not be read (so they can be told alive): the other
  // processes' stat is never read, which is most of the cost of a table. For callers that then
  // fetch (Get) the few other processes they need, such as `ps`'s NVML pids and ancestors.
  kHolders,
};

// The process table and the device-node holders from one look at the machine: every holder is a
// process of the table, and its holder data and its row describe the same process.
struct TableAndHolders {
  std::vector<ProcessInfo> table;  // as List(Detail::kTree), of the rows asked for; sorted by pid
  HolderScan holders;              // as ScanDeviceHolders
};

// How much List reads per process. kTree: stat only, the owner from /proc/<pid> itself (the
// effective uid); argv and nspid stay empty — the cheapest whole-table read, for trees and
// orphan checks. kBasic: stat, status and cmdline (owners and command lines; cwd and
// instance_tag stay nullopt). kFull: also cwd and the environment.
enum class Detail { kTree, kBasic, kFull };

class ProcessSource {
 public:
  virtual ~ProcessSource() = default;
  // Every process visible now (kernel threads included, with empty argv), sorted by pid.
  // Processes that vanish while being read are skipped.
  virtual Result<std::vector<ProcessInfo>> List(Detail detail) = 0;
  // One process with full detail; kNotFound when it does not exist.
  virtual Result<ProcessInfo> Get(pid_t pid) = 0;
  // Processes with <device_dir>/nvidia<N> (any N) or <device_dir>/nvidiactl open, and which of
  // the nodes they map. device_dir is "/dev" on real hardware, "$VRAMGUARD_FAKE_GPU_DIR/dev" on
  // the simulated GPU.
  virtual Result<HolderScan> ScanDeviceHolders() = 0;
  // ScanDeviceHolders and the table rows asked for (List(Detail::kTree)'s), in one pass over
  // the processes: what `ps` (kHolders) and `reap` (kAll) need.
  virtual Result<TableAndHolders> ListWithHolders(TableRows rows) = 0;
  // pid's entry of ScanDeviceHolders, read now (nullopt: it holds no node); kNotFound when pid
  // does not exist. The default scans every process; a source that can read one does.
  virtual Result<std::optional<DeviceHolder>> HolderOf(pid_t pid) {
    Result<HolderScan> scan = ScanDeviceHolders();
    if (!scan) return std::unexpected(std::move(scan.error()));
    for (DeviceHolder& h : scan->holders) {
      if (h.pid == pid) return std::move(h);
    }
    return std::nullopt;
  }
  // The children of pid, of every one of its threads, sorted: what the kernel keeps per process,
  // so walking a tree costs its size, not the machine's. kNotFound when pid does not exist;
  // kIo when the kernel has no children files (CONFIG_PROC_CHILDREN off): read the table then.
  virtual Result<std::vector<pid_t>> Children(pid_t pid) = 0;
};

// Signals processes through pidfds. A pid is attached with the start time it had when it was
// chosen; if the pid now belongs to another process, Attach fails and nothing is ever sent to it.
class Signaller {
 public:
  virtual ~Signaller() = default;
  // kNotFound: gone already. kRefused: pid recycled (start time differs). kPermissionDenied.
  virtual Result<void> Attach(pid_t pid, std::uint64_t start_time) = 0;
  // Sends sig to an attached pid. An already exited process is success.
  virtual Result<void> Signal(pid_t pid, int sig) = 0;
  // Waits until every pid in pids has exited or timeout passes; returns those still alive.
  virtual std::vector<pid_t> WaitForExit(const std::vector<pid_t>& pids,
                                         std::chrono::nanoseconds timeout) = 0;
  // Forgets every attached pid and closes their handles.
  virtual void DetachAll() = 0;
};

}  // namespace vg
