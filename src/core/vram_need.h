// VRAM arithmetic for services: does a service's need fit on its GPUs now, and how much memory
// does a set of processes (a service's members) hold.
//
// Pure. "Fits" means free − reserve ≥ need on every GPU of the service (docs/admission.md: never
// plan into the last `reserve` bytes). When it does not fit, the answer names who holds the memory,
// biggest first, so the user sees why a start waits.
#pragma once

#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/vram_view.h"

namespace vg {

struct VramNeed {
  std::vector<unsigned> gpus;  // NVML indices
  Bytes need;                  // must be free on each of them
  Bytes reserve;               // kept free on top of need
};

struct HolderShare {
  pid_t pid = 0;
  Bytes bytes;
  std::string label;  // "comfyui (pid 4242)", "exited 526 (held by 547)"
};

struct GpuShortfall {
  unsigned gpu = 0;
  Bytes free;
  Bytes plannable;  // free − reserve
  Bytes need;
  std::vector<HolderShare> holders;  // biggest first
};

struct VramFit {
  bool fits = true;
  std::vector<GpuShortfall> shortfalls;
  std::vector<unsigned> missing_gpus;  // configured GPUs the driver does not show
  // "GPU 0: needs 14.0 GiB, 9.5 GiB plannable (2.0 GiB reserve); held by comfyui (pid 4242) 9.8
  // GiB"
  std::string Describe() const;
};

VramFit CheckVramFit(const VramView& view, const VramNeed& need);

// Memory the given processes hold per GPU: NVML entries of members, plus ghosts whose every
// holder is a member (their memory comes back when the members go).
std::map<unsigned, Bytes> MembersVram(const VramView& view, const std::set<pid_t>& members);

}  // namespace vg
