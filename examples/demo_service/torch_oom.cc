#include "torch_oom.h"

#include <cstdio>

namespace vg::demo {

std::string FormatTorchSize(std::uint64_t bytes) {
  constexpr std::uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  if (bytes <= kKiB) return std::to_string(bytes) + " bytes";
  double value = 0;
  const char* unit = "";
  if (bytes <= kMiB) {
    value = static_cast<double>(bytes) / kKiB;
    unit = "KiB";
  } else if (bytes <= kGiB) {
    value = static_cast<double>(bytes) / kMiB;
    unit = "MiB";
  } else {
    value = static_cast<double>(bytes) / kGiB;
    unit = "GiB";
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f %s", value, unit);
  return buf;
}

std::string TorchOomMessage(const OomReport& report, Bytes allocated, Bytes reserved) {
  std::string processes;
  for (const ProcessUse& p : report.processes) {
    processes += p.pid == report.self_pid
                     ? std::string("Including non-PyTorch memory, this process")
                     : "Process " + std::to_string(p.pid);
    processes += " has " + FormatTorchSize(p.used.count()) + " memory in use. ";
  }
  return "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate " +
         FormatTorchSize(report.requested.count()) + ". GPU " + std::to_string(report.device) +
         " has a total capacity of " + FormatTorchSize(report.total.count()) + " of which " +
         FormatTorchSize(report.free.count()) + " is free. " + processes +
         "Of the allocated memory " + FormatTorchSize(allocated.count()) +
         " is allocated by PyTorch, and " + FormatTorchSize((reserved - allocated).count()) +
         " is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try "
         "setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
         "documentation for Memory Management  "
         "(https://docs.pytorch.org/docs/stable/notes/cuda.html"
         "#optimizing-memory-usage-with-pytorch-cuda-alloc-conf)";
}

}  // namespace vg::demo
