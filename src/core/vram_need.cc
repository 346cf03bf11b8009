#include "core/vram_need.h"

#include <algorithm>

namespace vg {
namespace {

std::string Label(const VramView& view, const VramEntry& e) {
  if (e.role == Role::kGhost) {
    std::string s = "exited " + std::to_string(e.pid);
    if (!e.holders.empty()) {
      s += " (held by";
      for (pid_t h : e.holders) s += " " + std::to_string(h);
      s += ")";
    }
    return s;
  }
  const ProcessInfo* p = view.Find(e.pid);
  return (p ? p->comm : std::string("?")) + " (pid " + std::to_string(e.pid) + ")";
}

}  // namespace

VramFit CheckVramFit(const VramView& view, const VramNeed& need) {
  VramFit fit;
  for (unsigned index : need.gpus) {
    auto it = std::find_if(view.gpus.begin(), view.gpus.end(),
                           [&](const GpuView& g) { return g.gpu.index == index; });
    if (it == view.gpus.end()) {
      fit.fits = false;
      fit.missing_gpus.push_back(index);
      continue;
    }
    const GpuInfo& g = it->gpu;
    Bytes plannable = g.free - need.reserve;
    if (plannable >= need.need) continue;
    fit.fits = false;
    GpuShortfall s{index, g.free, plannable, need.need, {}};
    for (const VramEntry& e : it->entries) {
      if (!e.used_known || !e.used) continue;
      s.holders.push_back({e.pid, *e.used, Label(view, e)});
    }
    std::sort(s.holders.begin(), s.holders.end(),
              [](const HolderShare& a, const HolderShare& b) { return a.bytes > b.bytes; });
    fit.shortfalls.push_back(std::move(s));
  }
  return fit;
}

std::string VramFit::Describe() const {
  std::string out;
  for (unsigned g : missing_gpus) {
    out += (out.empty() ? "" : "; ") + std::string("GPU ") + std::to_string(g) + " does not exist";
  }
  for (const GpuShortfall& s : shortfalls) {
    if (!out.empty()) out += "; ";
    out += "GPU " + std::to_string(s.gpu) + ": needs " + FormatBytes(s.need) + ", " +
           FormatBytes(s.plannable) + " plannable (" + FormatBytes(s.free) + " free)";
    if (!s.holders.empty()) {
      out += "; held by ";
      for (std::size_t i = 0; i < s.holders.size() && i < 3; ++i) {
        out += (i ? ", " : "") + s.holders[i].label + " " + FormatBytes(s.holders[i].bytes);
      }
    }
  }
  return out;
}

std::map<unsigned, Bytes> MembersVram(const VramView& view, const std::set<pid_t>& members) {
  std::map<unsigned, Bytes> out;
  for (const GpuView& g : view.gpus) {
    for (const VramEntry& e : g.entries) {
      bool ours = false;
      if (e.role == Role::kRunning || e.role == Role::kOrphan) {
        ours = members.count(e.pid) > 0;
      } else if (e.role == Role::kGhost) {
        ours = !e.holders.empty() && std::all_of(e.holders.begin(), e.holders.end(),
                                                 [&](pid_t h) { return members.count(h) > 0; });
      }
      if (ours && e.used) out[g.gpu.index] += *e.used;
    }
  }
  return out;
}

}  // namespace vg
