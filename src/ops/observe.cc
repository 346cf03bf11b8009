#include "ops/observe.h"

#include <cstdlib>
#include <map>
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
  // Processes first, then holders, then the driver: a process that starts in between shows up
  // in NVML without /proc details (harmless), never the other way round as a false ghost.
  // The whole table cheaply (stat only); full details only for the processes the view names.
  auto table = procs.List(Detail::kTree);
  if (!table) return std::unexpected(table.error());
  obs.table = std::move(*table);
  auto holders = procs.ScanDeviceHolders();
  if (!holders) return std::unexpected(holders.error());

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

Result<MachineLook> ObserveListed(GpuProbe* gpu, ProcessSource& procs, pid_t self,
                                  const std::vector<ProcessInfo>& known) {
  MachineLook obs;
  if (!gpu) return Fail(ErrorCode::kNoDriver, "no NVIDIA driver");
  auto snap = gpu->Snapshot();
  if (!snap) {
    obs.driver_error = snap.error();
    return obs;
  }
  obs.snapshot = std::move(*snap);
  std::map<pid_t, ProcessInfo> table;
  for (const ProcessInfo& p : known) table.emplace(p.pid, p);
  auto add = [&](pid_t pid) -> const ProcessInfo* {
    if (pid <= 0) return nullptr;
    if (auto it = table.find(pid); it != table.end()) return &it->second;
    auto info = procs.Get(pid);
    if (!info) return nullptr;
    return &table.emplace(pid, std::move(*info)).first->second;
  };
  add(self);
  for (const GpuInfo& g : obs.snapshot.gpus) {
    for (const GpuProcess& gp : g.processes) {
      const ProcessInfo* p = add(static_cast<pid_t>(gp.pid));
      if (!p || p->IsZombie()) {
        ++obs.ghosts;
        continue;
      }
      add(p->ppid);  // for orphan checks and the parent's name
    }
  }
  VramViewInput in;
  in.snapshot = obs.snapshot;
  in.self = self;
  if (auto me = table.find(self); me != table.end()) {
    in.nested_pid_namespace = me->second.nspid.size() > 1;
  }
  in.processes.reserve(table.size());
  for (auto& [pid, p] : table) in.processes.push_back(std::move(p));
  obs.view = BuildVramView(in);
  obs.table = std::move(in.processes);
  return obs;
}

}  // namespace vg
