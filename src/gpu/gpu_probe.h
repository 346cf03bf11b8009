// GpuProbe: what the driver says about every GPU and the processes it lists on each.
//
// The production implementation is NvmlProbe (nvml_probe.h), which loads libnvidia-ml.so.1 with
// dlopen; the simulated GPU is a fake libnvidia-ml.so.1 loaded by that same code
// (docs/simulated-gpu.md). Tests of code above the adapter use FakeGpuProbe (src/testing/). Values
// the driver cannot give are std::optional, never sentinels. Not thread-safe: one probe per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/units.h"

namespace vg {

// One process the driver lists on a GPU (compute and graphics lists merged by pid).
struct GpuProcess {
  std::uint32_t pid = 0;      // as the driver reports it (host PID namespace on bare metal)
  std::optional<Bytes> used;  // nullopt: the driver said NOT_AVAILABLE
  bool operator==(const GpuProcess&) const = default;
};

struct GpuInfo {
  unsigned index = 0;             // NVML index, the order nvidia-smi uses
  std::string name;               // "NVIDIA H100 80GB HBM3"
  std::string uuid;               // "GPU-…"
  std::optional<unsigned> minor;  // N of /dev/nvidiaN; nullopt when the driver does not say
  // nvmlDeviceGetPciInfo's busId, "00000000:3B:00.0" (core/incident_kernel.h NormalizePciBusId
  // compares it with the kernel's "PCI:0000:3b:00"); nullopt when the driver does not say.
  std::optional<std::string> pci_bus_id;
  Bytes total;
  Bytes free;                     // what can be planned with
  Bytes used;                     // without driver-reserved memory where the driver separates it
  std::optional<Bytes> reserved;  // driver-reserved memory (memory info v2 only)
  std::optional<unsigned> utilization_percent;
  // What processes can ever hold: total less driver-reserved memory (615 MiB on an H200 with
  // driver 580). Plans and capacities use this: a job sized to `total` never fits.
  Bytes usable_total() const { return total - reserved.value_or(Bytes{}); }
  std::vector<GpuProcess> processes;
  // Set when the driver failed to answer for this GPU (e.g. GPU_IS_LOST); other fields may be
  // partial. The rest of the snapshot is still valid.
  std::optional<std::string> problem;
};

struct GpuSnapshot {
  std::string driver_version;
  std::vector<GpuInfo> gpus;
};

class GpuProbe {
 public:
  virtual ~GpuProbe() = default;
  // Everything the driver says now. Fails with kNoDriver when there is no NVIDIA driver at all.
  virtual Result<GpuSnapshot> Snapshot() = 0;
};

}  // namespace vg
