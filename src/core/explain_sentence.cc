#include "core/explain_sentence.h"

#include <cstdio>

namespace vg {
namespace {

// Two decimals, as the engines print their numbers: "2.10 GiB", "235.06 MiB", "0 bytes". Every
// size in one sentence uses it, the snapshot's as well as the message's, so no sentence mixes
// "9.08 GiB" with "16.2 GiB".
std::string FormatBytes2(Bytes b) {
  struct Unit {
    unsigned shift;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}};
  if (b.count() == 0) return "0 bytes";
  for (const Unit& u : kUnits) {
    if (b.count() >= (std::uint64_t{1} << u.shift)) {
      char buf[64];
      std::snprintf(
          buf, sizeof buf, "%.2f %s",
          static_cast<double>(b.count()) / static_cast<double>(std::uint64_t{1} << u.shift),
          u.name);
      return buf;
    }
  }
  return std::to_string(b.count()) + " B";
}

const GpuMemoryLine* FindGpu(const std::vector<GpuMemoryLine>& vram, std::optional<int> gpu) {
  if (gpu) {
    for (const GpuMemoryLine& g : vram) {
      if (g.index == *gpu) return &g;
    }
    return nullptr;
  }
  return vram.size() == 1 ? &vram[0] : nullptr;
}

// "; comfyui (pid 4242) holds 9.80 GiB, python3 (pid 77) holds 1.00 GiB": the snapshot's top
// holders, else the processes the message named.
std::string Holders(const Incident& incident, const GpuMemoryLine* gpu) {
  constexpr std::size_t kMax = 3;
  std::string out;
  auto add = [&](const std::string& who, Bytes used) {
    out += out.empty() ? "; " : ", ";
    out += who + " holds " + FormatBytes2(used);
  };
  if (gpu && !gpu->top.empty()) {
    for (std::size_t i = 0; i < gpu->top.size() && i < kMax; ++i) {
      const Holder& h = gpu->top[i];
      std::string who = h.name.empty() ? "pid " + std::to_string(h.pid)
                                       : h.name + " (pid " + std::to_string(h.pid) + ")";
      add(who, h.used);
    }
    return out;
  }
  const auto& procs = incident.fields.processes;
  for (std::size_t i = 0; i < procs.size() && i < kMax; ++i) {
    add("process " + std::to_string(procs[i].pid), procs[i].used);
  }
  return out;
}

std::string OnGpu(std::optional<int> gpu) {
  return gpu ? " on GPU " + std::to_string(*gpu) : std::string();
}

// The GPU a driver message names, as a sentence's subject: "GPU 0", "GPU 0000:01:00", "A GPU".
std::string GpuName(const IncidentFields& f) {
  if (f.gpu) return "GPU " + std::to_string(*f.gpu);
  if (f.pci_bus) return "GPU " + *f.pci_bus;
  return "A GPU";
}

std::string ExplainOom(const Incident& incident, const std::string& who,
                       const std::vector<GpuMemoryLine>& vram) {
  const IncidentFields& f = incident.fields;
  const GpuMemoryLine* gpu = FindGpu(vram, f.gpu);
  std::optional<int> index = f.gpu;
  if (!index && gpu) index = gpu->index;
  // Free memory: what the message said at the moment of failure, else the snapshot's.
  std::optional<Bytes> free = f.free;
  std::optional<Bytes> total = f.capacity;
  std::string free_text;
  if (free) {
    free_text = FormatBytes2(*free) + " free";
    if (total) free_text += " of " + FormatBytes2(*total);
  } else if (gpu) {
    free_text = FormatBytes2(gpu->free) + " free of " + FormatBytes2(gpu->total);
  }
  std::string s;
  if (incident.kind == IncidentKind::kOomProbable) {
    s = who + " probably ran out of GPU memory" + OnGpu(index) + " (" + incident.what + ")";
    if (!free_text.empty()) s += "; " + free_text;
  } else if (f.requested) {
    s = who + " asked for " + FormatBytes2(*f.requested) + OnGpu(index);
    if (!free_text.empty()) s += " with " + free_text;
  } else {
    s = who + " ran out of GPU memory" + OnGpu(index) + " (" + incident.what + ")";
    if (!free_text.empty()) s += " with " + free_text;
  }
  return s + Holders(incident, gpu);
}

}  // namespace

std::string ExplainIncident(const Incident& incident, std::string_view service,
                            const std::vector<GpuMemoryLine>& vram) {
  std::string who = service.empty() ? std::string("the service") : std::string(service);
  const IncidentFields& f = incident.fields;
  switch (incident.kind) {
    case IncidentKind::kOom:
    case IncidentKind::kOomProbable:
      return ExplainOom(incident, who, vram);
    case IncidentKind::kSticky:
      return who + " hit a sticky CUDA error (" + incident.what + ")" + OnGpu(f.gpu) +
             "; the process must restart";
    case IncidentKind::kHostOom:
      if (incident.signature == "kernel-oom-killed-process") {
        // The kernel's own report (the daemon's kernel-log watch names the process).
        return who + ": " + incident.what + ", not GPU memory: more VRAM will not help";
      }
      return who + " ran out of host memory (RAM), not GPU memory" +
             (f.requested ? " asking for " + FormatBytes2(*f.requested) : std::string()) +
             ": more VRAM will not help";
    case IncidentKind::kGpuError:
      return GpuName(f) + " reported " + incident.what +
             ": it is still there; services on it keep running";
    case IncidentKind::kDeviceLost: {
      std::string xid = f.xid ? " (Xid " + std::to_string(*f.xid) + ")" : std::string();
      return GpuName(f) + " fell off the bus" + xid + ": restarting will not help";
    }
    case IncidentKind::kPortClash:
      if (f.port) {
        return who + " could not listen on port " + std::to_string(*f.port) +
               ": another process holds it";
      }
      return who + " could not listen: its port is already in use";
    case IncidentKind::kReady:
      if (f.port) return who + " is ready on port " + std::to_string(*f.port);
      return who + " is ready";
  }
  return who + ": " + incident.what;
}

}  // namespace vg
