// The kernel log's side of the catalogue: what the NVIDIA driver's Xid messages mean, matching one
// kernel message against the driver's signatures, and PCI bus ids in one comparable form.
//
// The kernel log is one stream for every GPU, so kernel messages are matched one at a time (no
// merging across lines, unlike Classifier): two GPUs lost one after the other are two incidents.
// The daemon de-duplicates per GPU (docs/daemon.md, "The kernel log").
//
// Pure values; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/incident.h"

namespace vg {

// What an Xid code means in a few words ("double-bit ECC error"), or nullptr for codes the table
// does not know. Source: NVIDIA's Xid catalogue (docs/oom.md lists the codes).
const char* XidMeaning(int xid);

// The incident one kernel message states, if it matches a signature of the built-in catalogue
// whose engine is "nvidia-driver" (xid-79, gpu-fallen-off-bus, xid-ecc, xid-nvlink,
// xid-firmware). `message` is the text of one kernel record (no priority prefix). Fields as
// ParseIncidentFields; `what` names the Xid's meaning when the table knows it.
std::optional<Incident> MatchKernelMessage(std::string_view message);

// The kernel's OOM killer killing a process for host RAM: "Out of memory: Killed process 1234
// (python) total-vm:…", "Memory cgroup out of memory: Killed process 1234 (python) …", older
// kernels' "Out of memory: Kill process 1234 (python) score 905 or sacrifice child".
struct KernelOomKill {
  long pid = 0;
  std::string name;  // the process's name as the kernel gives it (at most 64 bytes kept)
};
std::optional<KernelOomKill> MatchKernelOomKill(std::string_view message);

// "0000:3b:00" for every spelling of one PCI device: NVML's "00000000:3B:00.0", the kernel's
// "PCI:0000:3b:00" and "0000:3b:00.0", or a bare "3b:00.0" (domain 0). Domain, bus and device
// only (the function is dropped: a GPU is one device). nullopt when it is not a PCI address.
std::optional<std::string> NormalizePciBusId(std::string_view id);

}  // namespace vg
