// The production adapters of a command that looks at this machine (`ps`, `reap`, `top`): the
// process table from /proc and the driver (opened on a thread of its own while the first look
// reads /proc), and the reap both `reap` and `top` carry out: plan, then execute with proof.
#pragma once

#include <sys/types.h>

#include <future>
#include <memory>
#include <optional>
#include <string>

#include "core/reap_plan.h"
#include "gpu/nvml_probe.h"
#include "ops/observe.h"
#include "ops/reaper.h"
#include "proc/procfs.h"

namespace vg {

struct Machine {
  ProcfsSource procs{"/proc", DeviceDir()};
  std::unique_ptr<NvmlProbe> nvml;
  std::optional<Error> nvml_error;

  // The driver opens on a thread of its own while the first Look reads /proc: nvmlInit takes
  // tens to hundreds of milliseconds on a real driver without persistence mode, about as long as
  // the pass itself. nvml and nvml_error are set once Driver() returned.
  Machine();

  // Waits for the driver to be open (or to have failed to open).
  void Driver();

  // rows: kAll where the whole table is needed (reap), kHolders for the view alone (ps, top).
  Result<MachineLook> Look(TableRows rows = TableRows::kAll);

 private:
  std::future<Result<std::unique_ptr<NvmlProbe>>> opening_;
};

// A reap planned from a fresh look: the plan (target commands filled in) and the snapshot the
// plan was made from (what the driver showed before).
struct PlannedReap {
  ReapPlan plan;
  GpuSnapshot before;
};
Result<PlannedReap> PlanReapNow(Machine& m, const ReapRequest& request);

// Carries the plan out (ops::Reaper, pidfd signaller, the system clock). Without a driver the
// processes are still reaped and the memory is not verified (a note in the plan says why).
ReapOutcome ExecuteReap(Machine& m, PlannedReap& p, const ReapOptions& options,
                        const ReapProgress& say);

}  // namespace vg
