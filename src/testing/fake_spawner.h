// A Spawner that starts nothing: it records every SpawnSpec it is given and answers with
// made-up processes, pid 100000 + n and start time 5000 + n for the n-th call (from 1), with
// every descriptor -1. FailNext makes the next call fail with the given error (the spec is
// still recorded). Not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "proc/spawner.h"

namespace vg::testing {

class FakeSpawner final : public Spawner {
 public:
  static constexpr pid_t kFirstPid = 100000;

  Result<SpawnedProcess> Spawn(const SpawnSpec& spec) override;

  void FailNext(Error e) { fail_next_ = std::move(e); }
  const std::vector<SpawnSpec>& specs() const { return specs_; }
  // What each successful call returned, in order.
  const std::vector<SpawnedProcess>& spawned() const { return spawned_; }

 private:
  std::vector<SpawnSpec> specs_;
  std::vector<SpawnedProcess> spawned_;
  std::optional<Error> fail_next_;
};

}  // namespace vg::testing
