// The demo service's view of GPU memory: one context on one device whose allocation can grow to a
// target and shrink back, the way a PyTorch process's reserved memory does.
//
// Implementations: SimMemory (the simulated GPU, sim_memory.h), CudaMemory (a real GPU through the
// CUDA driver API, cuda_memory.h), and a recording fake in the tests. Sizes are what this process
// allocated, without the driver's per-context overhead.
//
// Not thread-safe: the caller serialises calls (DemoApp holds its job lock). Destroying the object
// releases the context in the process that created it; a forked child that never returns into the
// caller's scope keeps holding it, like a DataLoader worker.
#pragma once

#include <optional>
#include <string>

#include "torch_oom.h"
#include "util/error.h"
#include "util/units.h"

namespace vg::demo {

class GpuMemory {
 public:
  virtual ~GpuMemory() = default;

  // Raises what this process holds to `target`; nothing happens when it holds that much already.
  // On failure it holds exactly what it held before: kRefused means out of memory (and LastOom()
  // says what the allocation saw), any other code a driver or I/O failure.
  virtual Result<void> Grow(Bytes target) = 0;
  // Lowers what this process holds to `target` (or as close above it as the allocation's pieces
  // allow); nothing happens when it holds less.
  virtual Result<void> ReleaseTo(Bytes target) = 0;
  // What this process holds now.
  virtual Bytes Held() const = 0;
  // What the last Grow that failed for lack of memory saw.
  virtual std::optional<OomReport> LastOom() const = 0;
  // One line for logs: "simulated GPU 1 (NVIDIA GeForce RTX 4090 (simulated))".
  virtual std::string Describe() const = 0;
};

}  // namespace vg::demo
