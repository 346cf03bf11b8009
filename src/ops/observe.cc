#include "ops/observe.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

namespace vg {
namespace {

// Reads (Get, full details) the rows BuildVramView needs that a TableRows::kHolders pass left
// out: each pid the driver lists and its parent (orphan or not), each holder's parent, and every
// ancestor of a holder that maps a node (whose context it may share: ListedAncestor). A pid that
// cannot be read has exited (a ghost, when the driver lists it) or is hidden. Returns the pids
// it read.
std::set<pid_t> CompleteRows(ProcessSource& procs, const GpuSnapshot& snapshot,
                             const HolderScan& holders, std::vector<ProcessInfo>* table) {
  std::map<pid_t, ProcessInfo> got;  // read here
  std::set<pid_t> missing;           // tried, could not be read
  std::map<pid_t, const ProcessInfo*> rows;
  for (const ProcessInfo& p : *table) rows.emplace(p.pid, &p);
  // The row of pid, read when the table lacks it; null when it cannot be read.
  auto row = [&](pid_t pid) -> const ProcessInfo* {
    if (pid <= 0) return nullptr;
    if (auto it = rows.find(pid); it != rows.end()) return it->second;
    if (missing.count(pid)) return nullptr;
    Result<ProcessInfo> read = procs.Get(pid);
    if (!read) {
      missing.insert(pid);
      return nullptr;
    }
    const ProcessInfo* p = &got.emplace(pid, std::move(*read)).first->second;
    rows.emplace(pid, p);
    return p;
  };
  for (const GpuInfo& g : snapshot.gpus) {
    for (const GpuProcess& gp : g.processes) {
      if (const ProcessInfo* p = row(static_cast<pid_t>(gp.pid))) row(p->ppid);
    }
  }
  for (const DeviceHolder& h : holders.holders) {
    const ProcessInfo* p = row(h.pid);
    if (!p) continue;
    if (h.mapped_minors.empty()) {
      row(p->ppid);
      continue;
    }
    for (int depth = 0; depth < 64 && p && p->ppid > 0; ++depth) p = row(p->ppid);
  }
  std::set<pid_t> fetched;
  for (auto& [pid, p] : got) {
    fetched.insert(pid);
    table->push_back(std::move(p));
  }
  std::sort(table->begin(), table->end(),
            [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; });
  return fetched;
}

// Replaces pid's entry in holders (sorted by pid) with what it holds now.
void RereadHolder(ProcessSource& procs, pid_t pid, HolderScan* holders) {
  Result<std::optional<DeviceHolder>> now = procs.HolderOf(pid);
  if (!now) return;  // unreadable now: the pass's answer stands
  auto at = std::lower_bound(holders->holders.begin(), holders->holders.end(), pid,
                             [](const DeviceHolder& h, pid_t p) { return h.pid < p; });
  const bool listed = at != holders->holders.end() && at->pid == pid;
  if (!*now) {
    if (listed) holders->holders.erase(at);
  } else if (listed) {
    *at = std::move(**now);
  } else {
    holders->holders.insert(at, std::move(**now));
  }
}

}  // namespace

std::string DeviceDir() {
  const char* fake = std::getenv("VRAMGUARD_FAKE_GPU_DIR");
  if (fake && *fake) return std::string(fake) + "/dev";
  return "/dev";
}

Result<MachineLook> Observe(GpuProbe* gpu, const std::optional<Error>& gpu_error,
                            ProcessSource& procs, pid_t self, TableRows rows) {
  return Observe([&] { return GpuAccess{gpu, gpu_error}; }, procs, self, rows);
}

Result<MachineLook> Observe(const std::function<GpuAccess()>& gpu_after_scan, ProcessSource& procs,
                            pid_t self, TableRows rows) {
  MachineLook obs;
  // Processes and their holders first (one pass over /proc), then the driver: a process that
  // starts in between shows up in NVML without /proc details (harmless), never the other way
  // round as a false ghost. The table cheaply (stat and owner; with kHolders only the holders'
  // rows, the fd walk alone clears the rest); full details only for the processes the view names.
  auto scan = procs.ListWithHolders(rows);
  if (!scan) return std::unexpected(scan.error());
  obs.table = std::move(scan->table);
  HolderScan* holders = &scan->holders;

  const GpuAccess access = gpu_after_scan();
  GpuProbe* gpu = access.gpu;
  const std::optional<Error>& gpu_error = access.error;
  // The driver may have opened its device nodes while the pass ran (the CLI opens it on a
  // thread): this process's own entry is read again, so whether it is listed never depends on
  // which finished first.
  if (gpu) RereadHolder(procs, self, holders);
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

  // kHolders: the rows the view needs beyond the holders', read now, after the driver. A process
  // the driver lists that was not a holder during the pass began using the GPU after it (or
  // could not be read): it is read here, so it is not taken for a ghost.
  std::set<pid_t> fetched;
  if (rows == TableRows::kHolders)
    fetched = CompleteRows(procs, obs.snapshot, *holders, &obs.table);

  VramViewInput in;
  in.snapshot = obs.snapshot;
  in.processes = obs.table;
  in.holders = std::move(*holders);
  in.self = self;
  Result<ProcessInfo> me = procs.Get(self);
  if (me) in.nested_pid_namespace = me->nspid.size() > 1;
  obs.view = BuildVramView(in);
  for (auto& [pid, info] : obs.view.processes) {
    if (fetched.count(pid)) continue;  // read in full already
    if (pid == self && me) {
      info = *me;
    } else if (auto full = procs.Get(pid)) {
      info = std::move(*full);
    }
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
