// MachineLook: one consistent look at the machine for `ps` and `reap` — the driver's snapshot,
// the process table, the device-node holders — joined into a VramView.
//
// Works without a driver where it can: when NVML is unavailable, GPUs are inferred from the
// device nodes processes hold (memory unknown) and the reason becomes a warning.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/vram_view.h"
#include "gpu/gpu_probe.h"
#include "proc/process.h"

namespace vg {

struct MachineLook {
  GpuSnapshot snapshot;
  // Every process (TableRows::kAll), or only those the view needed (kHolders); sorted by pid.
  std::vector<ProcessInfo> table;
  VramView view;
  std::optional<Error> driver_error;  // NVML could not be used; the view is from /proc alone
  int ghosts = 0;                     // NVML entries whose pid is gone (ObserveListed)
};

// gpu may be null (no driver: pass the reason in gpu_error). rows: kAll when the caller needs
// the whole table (reap plans descendants from it), kHolders when the view is enough (`ps`: the
// stat of most processes is never read).
Result<MachineLook> Observe(GpuProbe* gpu, const std::optional<Error>& gpu_error,
                            ProcessSource& procs, pid_t self, TableRows rows = TableRows::kAll);

// The driver as Observe needs it once /proc has been read: the probe (null when there is none)
// or why there is none.
struct GpuAccess {
  GpuProbe* gpu = nullptr;
  std::optional<Error> error;
};
// The same, with the driver asked for only after the pass over /proc: a caller can open it
// (nvmlInit, slow on a real driver) on another thread meanwhile.
Result<MachineLook> Observe(const std::function<GpuAccess()>& gpu_after_scan, ProcessSource& procs,
                            pid_t self, TableRows rows = TableRows::kAll);

// The view of what the driver lists, without reading the machine: `known` (processes the caller
// already has, e.g. a supervisor's members) plus each pid NVML lists and its parent, read one by
// one. No descriptor scan, so a ghost's holders stay unnamed (`ghosts` counts them): a caller
// that must name them runs Observe. Costs the NVML entries plus `known`, not the machine.
Result<MachineLook> ObserveListed(GpuProbe* gpu, ProcessSource& procs, pid_t self,
                                  const std::vector<ProcessInfo>& known);

// "/dev", or "$VRAMGUARD_FAKE_GPU_DIR/dev" on the simulated GPU.
std::string DeviceDir();

}  // namespace vg
