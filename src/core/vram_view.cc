#include "core/vram_view.h"

#include <algorithm>
#include <set>

namespace vg {
namespace {

bool Contains(const std::vector<unsigned>& v, unsigned x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

class Builder {
 public:
  explicit Builder(const VramViewInput& in) : in_(in) {
    for (const ProcessInfo& p : in.processes) table_.emplace(p.pid, &p);
  }

  VramView Build() {
    VramView view;
    view.unreadable = in_.holders.unreadable;
    view.nested_pid_namespace = in_.nested_pid_namespace;
    for (const GpuInfo& gpu : in_.snapshot.gpus) {
      view.gpus.push_back(BuildGpu(gpu));
      if (gpu.problem)
        view.warnings.push_back("GPU " + std::to_string(gpu.index) + ": " + *gpu.problem);
    }
    std::set<pid_t> mentioned;
    for (const GpuView& g : view.gpus) {
      for (const VramEntry& e : g.entries) mentioned.insert(e.pid);
    }
    for (pid_t pid : mentioned) {
      const ProcessInfo* p = Alive(pid);
      if (!p) continue;
      view.processes.emplace(pid, *p);
      if (const ProcessInfo* parent = Lookup(p->ppid)) view.processes.emplace(parent->pid, *parent);
    }
    if (in_.nested_pid_namespace) {
      view.warnings.push_back(
          "vramguard runs in a nested PID namespace: NVML reports host PIDs, so a PID that looks "
          "dead may belong to another namespace; ghost reaping is disabled");
    }
    if (view.unreadable > 0) {
      view.warnings.push_back(std::to_string(view.unreadable) +
                              " processes could not be inspected (permission denied), so holders "
                              "among them are not shown (other users' processes need root)");
    }
    return view;
  }

 private:
  const ProcessInfo* Lookup(pid_t pid) const {
    auto it = table_.find(pid);
    return it == table_.end() ? nullptr : it->second;
  }
  const ProcessInfo* Alive(pid_t pid) const {
    const ProcessInfo* p = Lookup(pid);
    return p && !p->IsZombie() ? p : nullptr;
  }

  bool IsOrphan(const ProcessInfo& p) const {
    // A session leader under init is a daemon (a systemd service, a setsid'd server), not an
    // orphan: vramguard cannot tell it from a deliberate one, so it never calls it abandoned.
    if (p.pid == p.sid) return false;
    if (p.ppid <= 1) return true;
    const ProcessInfo* parent = Lookup(p.ppid);
    if (!parent) return true;
    if (std::find(in_.our_subreapers.begin(), in_.our_subreapers.end(), p.ppid) !=
        in_.our_subreapers.end()) {
      return false;
    }
    // `systemd --user` and similar subreapers adopt orphans too.
    return parent->comm == "systemd" || parent->comm == "init";
  }

  // The listed live pid among p's ancestors, if any (bounded walk: the tree may change under us).
  std::optional<pid_t> ListedAncestor(const ProcessInfo& p,
                                      const std::set<pid_t>& listed_alive) const {
    pid_t cur = p.ppid;
    for (int depth = 0; depth < 64 && cur > 1; ++depth) {
      if (listed_alive.count(cur)) return cur;
      const ProcessInfo* q = Lookup(cur);
      if (!q) break;
      cur = q->ppid;
    }
    return std::nullopt;
  }

  GpuView BuildGpu(const GpuInfo& gpu) {
    GpuView view;
    view.gpu = gpu;
    view.minor = gpu.minor.value_or(gpu.index);
    std::set<pid_t> listed, listed_alive;
    std::vector<pid_t> ghosts;
    std::vector<VramEntry> listed_entries;
    for (const GpuProcess& gp : gpu.processes) {
      auto pid = static_cast<pid_t>(gp.pid);
      VramEntry e;
      e.pid = pid;
      e.used = gp.used;
      e.used_known = true;
      listed.insert(pid);
      if (const ProcessInfo* p = Alive(pid)) {
        e.orphan = IsOrphan(*p);
        e.role = e.orphan ? Role::kOrphan : Role::kRunning;
        listed_alive.insert(pid);
      } else {
        e.role = Role::kGhost;
        ghosts.push_back(pid);
      }
      listed_entries.push_back(e);
    }

    std::vector<VramEntry> mappers, openers;
    for (const DeviceHolder& h : in_.holders.holders) {
      if (listed.count(h.pid)) continue;
      const ProcessInfo* p = Alive(h.pid);
      if (!p) continue;
      VramEntry e;
      e.pid = h.pid;
      e.is_self = h.pid == in_.self;
      e.orphan = IsOrphan(*p);
      if (Contains(h.mapped_minors, view.minor)) {
        e.role = Role::kHolder;
        if (auto anc = ListedAncestor(*p, listed_alive)) {
          e.holds_for = anc;
        } else if (std::find(ghosts.begin(), ghosts.end(), p->sid) != ghosts.end()) {
          e.holds_for = p->sid;
          e.attributed_by_session = true;
        } else if (std::find(ghosts.begin(), ghosts.end(), p->pgid) != ghosts.end()) {
          e.holds_for = p->pgid;
          e.attributed_by_session = true;
        } else if (ghosts.size() == 1) {
          e.holds_for = ghosts.front();
        }
        mappers.push_back(e);
      } else if (Contains(h.open_minors, view.minor)) {
        e.role = Role::kMonitor;
        openers.push_back(e);
      }
    }

    // Give each ghost its holders; ghosts nobody maps get the non-monitor openers as possible.
    for (VramEntry& g : listed_entries) {
      if (g.role != Role::kGhost) continue;
      for (const VramEntry& m : mappers) {
        if (!m.holds_for || *m.holds_for == g.pid) g.holders.push_back(m.pid);
      }
    }
    for (VramEntry& o : openers) {
      if (o.is_self) continue;
      const ProcessInfo* p = Alive(o.pid);
      if (p && IsKnownMonitor(*p)) continue;
      for (const VramEntry& g : listed_entries) {
        if (g.role == Role::kGhost && g.holders.empty()) {
          o.role = Role::kPossible;
          o.holds_for = ghosts.size() == 1 ? std::optional<pid_t>(g.pid) : std::nullopt;
          break;
        }
      }
    }

    auto by_pid = [](const VramEntry& a, const VramEntry& b) { return a.pid < b.pid; };
    std::sort(listed_entries.begin(), listed_entries.end(), by_pid);
    std::sort(mappers.begin(), mappers.end(), by_pid);
    std::stable_sort(openers.begin(), openers.end(), [](const VramEntry& a, const VramEntry& b) {
      return (a.role == Role::kPossible) > (b.role == Role::kPossible);
    });
    for (auto* part : {&listed_entries, &mappers, &openers}) {
      view.entries.insert(view.entries.end(), part->begin(), part->end());
    }
    return view;
  }

  const VramViewInput& in_;
  std::map<pid_t, const ProcessInfo*> table_;
};

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kRunning:
      return "running";
    case Role::kOrphan:
      return "orphan";
    case Role::kGhost:
      return "exited";
    case Role::kHolder:
      return "holder";
    case Role::kMonitor:
      return "monitor";
    case Role::kPossible:
      return "possible";
  }
  return "?";
}

bool IsKnownMonitor(const ProcessInfo& p) {
  static const char* const kMonitors[] = {
      "nvidia-smi", "nv-hostengine", "nvidia-persistenced", "dcgm-exporter",   "nvtop",
      "nvitop",     "gpustat",       "vramguard",           "nvidia_gpu_expo", "Xorg"};
  for (const char* m : kMonitors) {
    if (p.comm == m) return true;
  }
  return false;
}

const ProcessInfo* VramView::Find(pid_t pid) const {
  auto it = processes.find(pid);
  return it == processes.end() ? nullptr : &it->second;
}

std::vector<std::pair<const GpuView*, const VramEntry*>> VramView::EntriesFor(pid_t pid) const {
  std::vector<std::pair<const GpuView*, const VramEntry*>> out;
  for (const GpuView& g : gpus) {
    for (const VramEntry& e : g.entries) {
      if (e.pid == pid) out.emplace_back(&g, &e);
    }
  }
  return out;
}

VramView BuildVramView(const VramViewInput& input) { return Builder(input).Build(); }

}  // namespace vg
