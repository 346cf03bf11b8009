#include "testing/fake_spawner.h"

#include <utility>

namespace vg::testing {

Result<SpawnedProcess> FakeSpawner::Spawn(const SpawnSpec& spec) {
  specs_.push_back(spec);
  const int n = static_cast<int>(specs_.size());
  if (fail_next_) {
    Error e = std::move(*fail_next_);
    fail_next_.reset();
    return std::unexpected(std::move(e));
  }
  SpawnedProcess p;
  p.pid = kFirstPid + n;
  p.start_time = 5000 + static_cast<std::uint64_t>(n);
  spawned_.push_back(p);
  return p;
}

}  // namespace vg::testing
