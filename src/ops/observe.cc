#include "ops/observe.h"

#include <cstdlib>
#include <set>

namespace vg {

std::string DeviceDir() {
  const char* fake = std::getenv("VRAMGUARD_FAKE_GPU_DIR");
  if (fake && *fake) return std::string(fake) + "/dev";
  return "/dev";
}

Result<MachineLook> Observe(GpuProbe* gpu, const std::optional<Error>& gpu_error,
                            ProcessSource& procs, pid_t self) {
  MachineLook obs;
  // Processes and their holders first (one pass over /proc), then the driver: a process that
  // starts in between shows up in NVML without /proc details (harmless), never the other way
  // round as a false ghost. The whole table cheaply (stat, owner and the fd links); full details
  // only for the processes the view names.
  auto scan = procs.ListWithHolders();
  if (!scan) return std::unexpected(scan.error());
  obs.table = std::move(scan->table);
  HolderScan* holders = &scan->holders;

  if (gpu) {
    auto snap = gpu->Snapshot();
    if (snap) {
      obs.snapshot = std::move(*snap);
    } else {
      obs.driver_error = snap.error();
    }
  } else {
    obs.driver_error = gpu_error;
  }
  if (obs.driver_error) {
    // Without NVML: one GPU per device node that anyone holds, memory unknown.
    std::set<unsigned> minors;
    for (const DeviceHolder& h : holders->holders) {
      minors.insert(h.open_minors.begin(), h.open_minors.end());
      minors.insert(h.mapped_minors.begin(), h.mapped_minors.end());
    }
    for (unsigned m : minors) {
      GpuInfo g;
      g.index = m;
      g.minor = m;
      g.name = "unknown";
      g.problem = "NVML unavailable: memory and processes unknown";
      obs.snapshot.gpus.push_back(std::move(g));
    }
  }

  VramViewInput in;
  in.snapshot = obs.snapshot;
  in.processes = obs.table;
  in.holders = std::move(*holders);
  in.self = self;
  if (auto me = procs.Get(self)) in.nested_pid_namespace = me->nspid.size() > 1;
  obs.view = BuildVramView(in);
  for (auto& [pid, info] : obs.view.processes) {
    if (auto full = procs.Get(pid)) info = std::move(*full);
  }
  for (ProcessInfo& p : obs.table) {
    if (const ProcessInfo* full = obs.view.Find(p.pid)) p = *full;
  }
  if (obs.driver_error) {
    obs.view.warnings.insert(obs.view.warnings.begin(), obs.driver_error->message);
  }
  return obs;
}

}  // namespace vg
