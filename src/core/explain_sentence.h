// The explanation: one sentence a person understands, built from an incident's parsed numbers
// and, when there is one, a VRAM snapshot taken at that moment.
//
// Pure. Numbers from the message are shown with two decimals as the engines print them
// ("2.10 GiB"); numbers from the snapshot with one (FormatBytes). Works with an empty snapshot
// (`vramguard explain` over a file): then it says what the message says.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/incident.h"
#include "util/units.h"

namespace vg {

// One process holding VRAM: a service name when it is one of ours, else the process's comm.
struct Holder {
  long pid = 0;
  std::string name;
  Bytes used;
};

// One GPU at the moment of the incident; `top` are its largest holders, largest first.
struct GpuMemoryLine {
  int index = 0;
  Bytes total;
  Bytes free;
  std::vector<Holder> top;
};

// "i2v asked for 2.10 GiB on GPU 0 with 1.20 GiB free; comfyui (pid 4242) holds 9.80 GiB".
// `service` may be empty ("the service").
std::string ExplainIncident(const Incident& incident, std::string_view service,
                            const std::vector<GpuMemoryLine>& vram);

}  // namespace vg
