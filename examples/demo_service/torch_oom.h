// PyTorch 2.11's out-of-memory message, byte for byte (docs/gpu-facts.md, "What an OOM looks
// like"), built from what an allocation that did not fit saw.
//
// PyTorch builds the message in c10/cuda/CUDACachingAllocator.cpp: sizes through its
// format_size() (bytes up to 1024, then KiB/MiB/GiB with two decimals, binary units), and one
// sentence per process the driver lists on the device, in the driver's order, the own process
// worded "Including non-PyTorch memory, this process has …".
//
// Pure functions; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/units.h"

namespace vg::demo {

// One process on the device as the driver accounts it (allocations plus context overhead).
struct ProcessUse {
  pid_t pid = 0;
  Bytes used;
  bool operator==(const ProcessUse&) const = default;
};

// What an allocation that did not fit saw.
struct OomReport {
  unsigned device = 0;  // the ordinal as this process numbers devices (after CUDA_VISIBLE_DEVICES)
  Bytes requested;      // the allocation that failed
  Bytes total;          // device capacity
  Bytes free;           // free on the device when it failed
  pid_t self_pid = 0;
  // Every process the driver lists on the device, this one included, in the driver's order.
  std::vector<ProcessUse> processes;
};

// PyTorch's format_size(): "0 bytes", "1024 bytes", "1.50 KiB", "235.06 MiB", "15.00 GiB".
std::string FormatTorchSize(std::uint64_t bytes);

// The one-line message PyTorch 2.11 prints (no trailing newline). `allocated` is what the
// allocator has handed out to tensors, `reserved` what it holds from the driver (≥ allocated).
std::string TorchOomMessage(const OomReport& report, Bytes allocated, Bytes reserved);

}  // namespace vg::demo
