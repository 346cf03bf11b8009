// MachineLook: one consistent look at the machine for `ps` and `reap` — the driver's snapshot,
// the process table, the device-node holders — joined into a VramView.
//
// Works without a driver where it can: when NVML is unavailable, GPUs are inferred from the
// device nodes processes hold (memory unknown) and the reason becomes a warning.
#pragma once

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
};

// gpu may be null (no driver: pass the reason in gpu_error). rows: kAll when the caller needs
// the whole table (reap plans descendants from it), kHolders when the view is enough (`ps`: the
// stat of most processes is never read).
Result<MachineLook> Observe(GpuProbe* gpu, const std::optional<Error>& gpu_error,
                            ProcessSource& procs, pid_t self, TableRows rows = TableRows::kAll);

// "/dev", or "$VRAMGUARD_FAKE_GPU_DIR/dev" on the simulated GPU.
std::string DeviceDir();

}  // namespace vg
