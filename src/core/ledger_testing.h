// Test data shared by the ledger, admission and suggestion unit tests: sizes in GiB and a one-GPU
// cluster whose driver view agrees with what its services hold. Header only; tests only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/ledger.h"

namespace vg::testing {

// A fractional size: GiBf(8.5) is 8.5 × 2^30 bytes.
inline Bytes GiBf(double n) { return Bytes(static_cast<std::uint64_t>(n * (1ull << 30))); }

// A running service on GPU 0, resident at `baseline` (its start-up size) and holding `held`.
inline ServiceSnapshot RunningService(std::string name, Bytes baseline, Bytes held,
                                      unsigned concurrency) {
  ServiceSnapshot s;
  s.name = std::move(name);
  s.gpus = {0};
  s.state = ServiceRun::kRunning;
  s.baseline = baseline;
  s.start_vram = baseline;
  s.held[0] = held;
  s.concurrency = concurrency;
  return s;
}

// GPU 0 with `total` bytes and the 2 GiB reserve; the driver's free = total − what the services
// hold − `other` (memory held outside vramguard).
inline ClusterSnapshot OneGpuCluster(Bytes total, std::vector<ServiceSnapshot> services,
                                     Bytes other = {}) {
  ClusterSnapshot c;
  Bytes held = other;
  for (const auto& s : services) held += s.HeldOn(0);
  c.gpus.push_back({0, total, total - held, Bytes::GiB(2)});
  c.services = std::move(services);
  return c;
}

}  // namespace vg::testing
