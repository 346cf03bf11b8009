// The simulated GPU's state directory: its layout, its rules, and a simulated CUDA context.
//
// Contract (docs/simulated-gpu.md):
//   $DIR/gpu<N>/device.json   the device: name, uuid, total_bytes, context_overhead_bytes and the
//                             optional test switches of DeviceConfig
//   $DIR/dev/nvidiactl        4096-byte ordinary file standing in for /dev/nvidiactl
//   $DIR/dev/nvidia<minor>    4096-byte ordinary file standing in for /dev/nvidia<minor>
//   $DIR/gpu<N>/ctx/<pid>     one context created by <pid>; content "<decimal bytes allocated>\n"
// A context is ALIVE while any process holds its ctx file open. The creator takes flock(LOCK_EX)
// on the file before it becomes visible (created under a temporary name, renamed into place), and
// the lock belongs to the open file description, so forked children that inherit the descriptor
// keep the context alive after the creator died: the ghost. Readers test liveness with
// flock(LOCK_SH|LOCK_NB) on a descriptor of their own (O_CLOEXEC, closed at once): EWOULDBLOCK
// means alive; success means dead, and the reader deletes the dead file. Shared-lock probes never
// conflict with each other, so concurrent readers cannot mistake a dead context for a live one.
//
// Everything here returns errors as values and never prints. Functions are safe to call from
// several processes at once; nothing here is thread-safe within one process except the readers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/units.h"

namespace vg::sim {

// The environment variable naming the state directory.
inline constexpr const char* kDirEnvVar = "VRAMGUARD_FAKE_GPU_DIR";
// Size of the device node stand-ins (one page, what a context maps).
inline constexpr std::size_t kNodeSize = 4096;
// Process-list entry strides the fake driver can be told to write for _v2/_v3.
inline constexpr unsigned kDefaultEntryStride = 24;

// One gpu<N>/device.json. Fields after context_overhead_bytes are test switches.
struct DeviceConfig {
  unsigned index = 0;  // N of gpu<N>
  std::string name;
  std::string uuid;
  std::uint64_t total_bytes = 0;
  std::uint64_t context_overhead_bytes = 0;
  // Driver-reserved memory: memory info v1 counts it in used, v2 reports it separately.
  std::uint64_t reserved_bytes = 0;
  // Percent for nvmlDeviceGetUtilizationRates; nullopt: the call answers NOT_SUPPORTED.
  std::optional<unsigned> utilization_gpu;
  unsigned utilization_memory = 0;
  // Entry size written for _v2/_v3 process lists: 16, 24 (correct) or 32 (buggy R535 drivers).
  unsigned process_entry_stride = kDefaultEntryStride;
  // NVML symbol names that answer FUNCTION_NOT_FOUND (13) when called, to exercise fallbacks.
  std::vector<std::string> unsupported;
  // N of $DIR/dev/nvidia<N>; defaults to index.
  unsigned minor = 0;
  // nvmlDeviceGetPciInfo's busId ("00000000:01:00.0"); defaults to DefaultPciBusId(index).
  std::string pci_bus_id;

  bool IsUnsupported(std::string_view symbol) const;
};

// The simulated GPU N's PCI address when device.json names none: bus N+1, "00000000:01:00.0" for
// GPU 0 (the kernel's Xid lines spell it "PCI:0000:01:00").
std::string DefaultPciBusId(unsigned index);

struct CreateOptions {
  unsigned count = 1;
  Bytes total = Bytes::GiB(24);
  std::string name = "NVIDIA GeForce RTX 4090 (simulated)";
  Bytes overhead = Bytes::MiB(500);
  Bytes reserved;
};

// One live context as the driver would account it.
struct LiveContext {
  pid_t pid = 0;                      // from the file name; the process may be dead (the ghost)
  std::uint64_t allocated_bytes = 0;  // the file's content
  bool operator==(const LiveContext&) const = default;
};

struct Usage {
  std::uint64_t total_bytes = 0;
  std::uint64_t reserved_bytes = 0;
  std::uint64_t used_bytes = 0;  // Σ (allocated + overhead) over live contexts, without reserved
  std::uint64_t free_bytes = 0;  // total − reserved − used, never below zero
};

// The state directory named by VRAMGUARD_FAKE_GPU_DIR; kNoDriver when unset or empty.
Result<std::filesystem::path> DirFromEnv();

// "GPU-5a1e0000-0000-4000-8000-00000000000N" (N in hex, 12 digits).
std::string UuidFor(unsigned index);

// Paths of the layout.
std::filesystem::path GpuDir(const std::filesystem::path& dir, unsigned gpu);
std::filesystem::path CtxDir(const std::filesystem::path& dir, unsigned gpu);
std::filesystem::path CtlNodePath(const std::filesystem::path& dir);
std::filesystem::path DeviceNodePath(const std::filesystem::path& dir, unsigned minor);

// Creates (or re-creates) `options.count` GPUs: device.json with default switches, dev nodes,
// ctx dirs. Deletes dead ctx files, keeps live ones, removes gpu<M> directories beyond count.
Result<void> CreateGpus(const std::filesystem::path& dir, const CreateOptions& options);

// Writes gpu<config.index>/device.json atomically (all switches), creating the directories and
// the device node for config.minor. Tests use it to set switches.
Result<void> WriteDevice(const std::filesystem::path& dir, const DeviceConfig& config);

// Every gpu<N>/device.json, ordered by N. An empty vector when there are none.
Result<std::vector<DeviceConfig>> ReadDevices(const std::filesystem::path& dir);
Result<DeviceConfig> ReadDevice(const std::filesystem::path& dir, unsigned gpu);

// Live contexts on GPU `gpu`, ordered by pid. Deletes dead ctx files it finds.
Result<std::vector<LiveContext>> ListLiveContexts(const std::filesystem::path& dir, unsigned gpu);

Usage ComputeUsage(const DeviceConfig& device, const std::vector<LiveContext>& contexts);
Result<Usage> DeviceUsage(const std::filesystem::path& dir, unsigned gpu);

// What an allocation that did not fit saw (for PyTorch-style OOM messages).
struct OutOfMemory {
  unsigned gpu = 0;
  std::uint64_t requested_bytes = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t self_used_bytes = 0;  // this context: allocated + overhead
  std::vector<LiveContext> others;    // every other live context (allocated bytes, no overhead)
};

// One simulated CUDA context, opened the way a CUDA process initialises the driver: it opens
// dev/nvidiactl and dev/nvidia<minor> (O_RDWR, inheritable), maps one page of dev/nvidia<minor>
// MAP_SHARED, and creates gpu<N>/ctx/<pid> holding an exclusive flock. All of it is inherited by
// forked children and kept for the object's lifetime.
//
// The destructor (and Close) releases only in the process that opened the context: in a forked
// child it does nothing, so the child keeps holding the context like a real forked worker. It
// behaves like process exit: the context stays alive while a forked child holds the descriptor.
class SimContext {
 public:
  static Result<SimContext> Open(const std::filesystem::path& dir, unsigned gpu);

  SimContext(SimContext&& other) noexcept;
  SimContext& operator=(SimContext&& other) noexcept;
  SimContext(const SimContext&) = delete;
  SimContext& operator=(const SimContext&) = delete;
  ~SimContext();

  // Grows the allocation; fails with kRefused ("CUDA out of memory: …") when it would exceed
  // the GPU's free memory (other contexts, their overhead and reserved memory counted). The
  // check and the write are serialised across processes with a per-GPU lock file.
  Result<void> Allocate(Bytes bytes);
  // Shrinks the allocation (saturates at zero).
  Result<void> Free(Bytes bytes);
  // Sets the allocation; growing is checked like Allocate.
  Result<void> SetAllocated(Bytes bytes);

  // Closes descriptors and the mapping (only in the opening process) and deletes the ctx file
  // when no forked child still holds it.
  void Close();

  unsigned gpu() const { return gpu_; }
  pid_t owner() const { return owner_; }
  Bytes allocated() const { return Bytes(allocated_); }
  Bytes overhead() const { return Bytes(overhead_); }
  // Set by the last Allocate/SetAllocated that failed for lack of memory.
  const std::optional<OutOfMemory>& last_oom() const { return last_oom_; }

 private:
  SimContext() = default;
  Result<void> Write(std::uint64_t bytes);
  Result<void> Grow(std::uint64_t new_allocated);

  std::filesystem::path dir_;
  std::filesystem::path ctx_path_;
  unsigned gpu_ = 0;
  pid_t owner_ = 0;
  int ctl_fd_ = -1;
  int node_fd_ = -1;
  int ctx_fd_ = -1;
  void* mapping_ = nullptr;
  std::uint64_t allocated_ = 0;
  std::uint64_t overhead_ = 0;
  std::optional<OutOfMemory> last_oom_;
};

}  // namespace vg::sim
