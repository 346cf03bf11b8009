#include "core/reap_plan.h"

#include <algorithm>
#include <map>
#include <set>

namespace vg {
namespace {

using Table = std::map<pid_t, const ProcessInfo*>;

std::string Pid(pid_t p) { return std::to_string(p); }

class Planner {
 public:
  Planner(const VramView& view, const std::vector<ProcessInfo>& table, const Caller& caller)
      : view_(view), caller_(caller) {
    for (const ProcessInfo& p : table) {
      table_.emplace(p.pid, &p);
      children_[p.ppid].push_back(p.pid);
    }
  }

  Result<ReapPlan> Plan(const ReapRequest& request) {
    switch (request.mode) {
      case ReapMode::kPids:
        if (auto r = AddNamedPids(request.pids); !r) return std::unexpected(r.error());
        break;
      case ReapMode::kGhosts:
        if (auto r = AddGhostHolders(); !r) return std::unexpected(r.error());
        break;
      case ReapMode::kOrphans:
        AddOrphans();
        break;
    }
    AddDescendants();
    ComputeReleases();
    return std::move(plan_);
  }

 private:
  const ProcessInfo* Lookup(pid_t pid) const {
    auto it = table_.find(pid);
    return it == table_.end() ? nullptr : it->second;
  }

  bool Protected(pid_t pid, std::string* why) const {
    if (pid <= 1) {
      *why = "PID " + Pid(pid) + " is init; vramguard never signals it";
      return true;
    }
    if (pid == caller_.pid) {
      *why = "PID " + Pid(pid) + " is vramguard itself";
      return true;
    }
    if (std::find(caller_.ancestors.begin(), caller_.ancestors.end(), pid) !=
        caller_.ancestors.end()) {
      *why = "PID " + Pid(pid) + " is an ancestor of vramguard (its shell or supervisor)";
      return true;
    }
    return false;
  }

  bool MaySignal(const ProcessInfo& p) const { return caller_.uid == 0 || p.uid == caller_.uid; }

  bool HoldsDeviceFiles(pid_t pid) const { return !view_.EntriesFor(pid).empty(); }

  void AddTarget(const ProcessInfo& p, std::string reason) {
    if (targeted_.count(p.pid)) return;
    targeted_.insert(p.pid);
    plan_.targets.push_back(
        ReapTarget{p.pid, p.start_time, p.uid, p.user, p.CommandLine(), std::move(reason)});
  }

  std::string DescribeHolding(pid_t pid) const {
    std::string out;
    for (auto [gpu, entry] : view_.EntriesFor(pid)) {
      std::string part;
      switch (entry->role) {
        case Role::kRunning:
        case Role::kOrphan:
          part = "holds " + (entry->used ? FormatBytes(*entry->used) : std::string("VRAM")) +
                 " on GPU " + std::to_string(gpu->gpu.index);
          break;
        case Role::kHolder:
          part = entry->holds_for ? "holds the memory of " + Pid(*entry->holds_for) + " on GPU " +
                                        std::to_string(gpu->gpu.index)
                                  : "holds a context on GPU " + std::to_string(gpu->gpu.index);
          break;
        default:
          part = "has /dev/nvidia" + std::to_string(gpu->minor) + " open";
      }
      out += out.empty() ? part : "; " + part;
    }
    return out;
  }

  Result<void> AddNamedPids(const std::vector<pid_t>& pids) {
    if (pids.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "--pid needs at least one PID",
                  "see `vramguard ps` for the PIDs that hold VRAM");
    }
    for (pid_t pid : pids) {
      std::string why;
      if (Protected(pid, &why)) return Fail(ErrorCode::kRefused, "refusing to reap: " + why);
      const ProcessInfo* p = Lookup(pid);
      if (!p || p->IsZombie()) {
        return Fail(ErrorCode::kNotFound, "no running process with PID " + Pid(pid),
                    "see `vramguard ps` for the PIDs that hold VRAM");
      }
      if (!MaySignal(*p)) {
        return Fail(ErrorCode::kPermissionDenied,
                    "PID " + Pid(pid) + " belongs to " + p->user + "; you may only reap your own",
                    "run as root (sudo vramguard reap …) to reap other users' processes");
      }
      if (!HoldsDeviceFiles(pid)) {
        return Fail(
            ErrorCode::kRefused,
            "PID " + Pid(pid) + " (" + p->comm + ") holds no VRAM; refusing to reap it",
            "vramguard only reaps processes that have a GPU device open; see `vramguard ps`");
      }
      AddTarget(*p, DescribeHolding(pid));
    }
    return {};
  }

  Result<void> AddGhostHolders() {
    if (view_.nested_pid_namespace) {
      return Fail(ErrorCode::kRefused,
                  "ghost reaping is disabled in a nested PID namespace (NVML's PIDs are not ours)",
                  "run vramguard on the host, or reap a holder by --pid");
    }
    for (const GpuView& g : view_.gpus) {
      for (const VramEntry& e : g.entries) {
        if (e.role != Role::kGhost) continue;
        if (e.holders.empty()) {
          plan_.notes.push_back("exited " + Pid(e.pid) + " on GPU " + std::to_string(g.gpu.index) +
                                ": no process maps the device; see possible holders in `vramguard "
                                "ps`, reap one by --pid");
        }
        for (pid_t h : e.holders)
          AddIfAllowed(h, "holds the memory of exited " + Pid(e.pid) + " on GPU " +
                              std::to_string(g.gpu.index));
      }
    }
    if (plan_.targets.empty() && plan_.notes.empty())
      plan_.notes.push_back("no ghosts: nothing to reap");
    return {};
  }

  void AddOrphans() {
    for (const GpuView& g : view_.gpus) {
      for (const VramEntry& e : g.entries) {
        bool holds = e.role == Role::kOrphan || (e.role == Role::kHolder && e.orphan);
        if (!holds) continue;
        AddIfAllowed(e.pid, "orphan; " + DescribeHolding(e.pid));
      }
    }
    if (plan_.targets.empty() && plan_.notes.empty()) {
      plan_.notes.push_back("no orphaned processes hold VRAM: nothing to reap");
    }
  }

  // For set-based modes: skip (with a note) rather than refuse the whole request.
  void AddIfAllowed(pid_t pid, std::string reason) {
    std::string why;
    const ProcessInfo* p = Lookup(pid);
    if (!p || p->IsZombie()) return;
    if (Protected(pid, &why)) {
      plan_.notes.push_back("skipped: " + why);
      return;
    }
    if (!MaySignal(*p)) {
      plan_.notes.push_back("skipped PID " + Pid(pid) + " (" + p->comm + "): belongs to " +
                            p->user + "; run as root to reap it");
      return;
    }
    AddTarget(*p, std::move(reason));
  }

  void AddDescendants() {
    std::vector<pid_t> queue;
    for (const ReapTarget& t : plan_.targets) queue.push_back(t.pid);
    for (std::size_t i = 0; i < queue.size(); ++i) {
      auto it = children_.find(queue[i]);
      if (it == children_.end()) continue;
      for (pid_t child : it->second) {
        const ProcessInfo* c = Lookup(child);
        if (!c || c->IsZombie() || targeted_.count(child)) continue;
        std::string why;
        if (Protected(child, &why)) {
          plan_.notes.push_back("skipped descendant: " + why);
          continue;
        }
        if (!MaySignal(*c)) {
          plan_.notes.push_back("skipped PID " + Pid(child) + ", descendant of " + Pid(queue[i]) +
                                ": belongs to " + c->user);
          continue;
        }
        AddTarget(*c, "descendant of " + Pid(queue[i]));
        queue.push_back(child);
      }
    }
  }

  // An NVML entry comes back when every live process keeping it is a target: the listed process
  // itself (if alive) and every holder of its context.
  void ComputeReleases() {
    for (const GpuView& g : view_.gpus) {
      for (const VramEntry& e : g.entries) {
        if (e.role != Role::kRunning && e.role != Role::kOrphan && e.role != Role::kGhost) continue;
        std::vector<pid_t> keepers;
        if (e.role != Role::kGhost) keepers.push_back(e.pid);
        for (const VramEntry& h : g.entries) {
          if (h.role == Role::kHolder && h.holds_for == e.pid) keepers.push_back(h.pid);
        }
        if (e.role == Role::kGhost)
          keepers.insert(keepers.end(), e.holders.begin(), e.holders.end());
        bool any = false;
        bool all = !keepers.empty();
        for (pid_t k : keepers) {
          if (targeted_.count(k)) {
            any = true;
          } else {
            all = false;
          }
        }
        if (!any) continue;
        if (all) {
          plan_.releases.push_back(ExpectedRelease{g.gpu.index, e.pid, e.used});
        } else {
          std::vector<std::string> others;
          for (pid_t k : keepers) {
            if (!targeted_.count(k)) others.push_back(Pid(k));
          }
          std::string list;
          for (const auto& o : others) list += (list.empty() ? "" : ", ") + o;
          plan_.notes.push_back("the memory of " + Pid(e.pid) + " on GPU " +
                                std::to_string(g.gpu.index) + " stays held by " + list +
                                " (not reaped)");
        }
      }
    }
  }

  const VramView& view_;
  const Caller& caller_;
  Table table_;
  std::map<pid_t, std::vector<pid_t>> children_;
  std::set<pid_t> targeted_;
  ReapPlan plan_;
};

}  // namespace

Bytes ReapPlan::ExpectedBytes() const {
  Bytes total;
  for (const ExpectedRelease& r : releases) total += r.bytes.value_or(Bytes());
  return total;
}

Result<ReapPlan> PlanReap(const VramView& view, const std::vector<ProcessInfo>& table,
                          const ReapRequest& request, const Caller& caller) {
  return Planner(view, table, caller).Plan(request);
}

std::vector<pid_t> AncestorsOf(pid_t pid, const std::vector<ProcessInfo>& table) {
  std::map<pid_t, pid_t> parent;
  for (const ProcessInfo& p : table) parent[p.pid] = p.ppid;
  std::vector<pid_t> out;
  pid_t cur = pid;
  for (int i = 0; i < 256; ++i) {
    auto it = parent.find(cur);
    if (it == parent.end() || it->second <= 0) break;
    cur = it->second;
    out.push_back(cur);
  }
  return out;
}

}  // namespace vg
