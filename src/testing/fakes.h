// Fakes of every adapter, for unit tests. They record what happened and have switches; none
// touches the OS or sleeps. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "clock/clock.h"
#include "gpu/gpu_probe.h"
#include "proc/process.h"

namespace vg::testing {

// Time moves only when a test or a sleeper moves it.
class FakeClock final : public Clock {
 public:
  SteadyTime Now() override { return now_; }
  void SleepFor(std::chrono::nanoseconds d) override {
    now_ += d;
    ++sleeps_;
  }
  void Advance(std::chrono::nanoseconds d) { now_ += d; }
  int sleeps() const { return sleeps_; }

 private:
  SteadyTime now_{std::chrono::seconds(1000)};
  int sleeps_ = 0;
};

// Returns the snapshot it holds. RemoveAfter makes an entry vanish after N more snapshots, the
// way the driver tears a context down a little after the process exits.
class FakeGpuProbe final : public GpuProbe {
 public:
  explicit FakeGpuProbe(GpuSnapshot snapshot) : snapshot_(std::move(snapshot)) {}
  Result<GpuSnapshot> Snapshot() override;
  void RemoveAfter(unsigned gpu, pid_t pid, int snapshots) { removals_[{gpu, pid}] = snapshots; }
  void FailNext(Error e) { fail_next_ = std::move(e); }
  int calls() const { return calls_; }
  GpuSnapshot& snapshot() { return snapshot_; }

 private:
  GpuSnapshot snapshot_;
  std::map<std::pair<unsigned, pid_t>, int> removals_;
  std::optional<Error> fail_next_;
  int calls_ = 0;
};

// A process table held in memory. Counts the calls of each kind, so tests can tell how often the
// table was read. ListWithHolders(kHolders) returns the rows of the holders only, like procfs
// for a caller that can read every process's fds.
class FakeProcessSource final : public ProcessSource {
 public:
  std::vector<ProcessInfo> processes;
  HolderScan holders;
  std::optional<Error> fail_next;  // the next List/ScanDeviceHolders/ListWithHolders fails
  int list_calls = 0;
  int get_calls = 0;
  int scan_calls = 0;
  int list_with_holders_calls = 0;
  std::optional<TableRows> last_rows;  // what the last ListWithHolders asked for

  Result<std::vector<ProcessInfo>> List(Detail) override;
  Result<ProcessInfo> Get(pid_t pid) override;
  Result<HolderScan> ScanDeviceHolders() override;
  Result<TableAndHolders> ListWithHolders(TableRows rows) override;
  Result<std::optional<DeviceHolder>> HolderOf(pid_t pid) override;
  int holder_of_calls = 0;
  Result<std::vector<pid_t>> Children(pid_t pid) override;
  int children_calls = 0;  // how many times Children was asked

 private:
  std::optional<Error> TakeFailure();
};

// Processes that obey SIGTERM (default), ignore it, or take a while. Records every signal.
class FakeSignaller final : public Signaller {
 public:
  explicit FakeSignaller(FakeClock& clock) : clock_(clock) {}

  struct Proc {
    std::uint64_t start_time = 0;
    bool ignores_term = false;
    bool unkillable = false;  // stuck in D state: survives SIGKILL too
    bool alive = true;
  };
  std::map<pid_t, Proc> procs;
  std::vector<std::pair<pid_t, int>> sent;  // every signal sent, in order
  std::function<void(pid_t)> on_exit;       // e.g. tell the FakeGpuProbe

  Result<void> Attach(pid_t pid, std::uint64_t start_time) override;
  Result<void> Signal(pid_t pid, int sig) override;
  std::vector<pid_t> WaitForExit(const std::vector<pid_t>& pids,
                                 std::chrono::nanoseconds timeout) override;
  void DetachAll() override { attached_.clear(); }

 private:
  FakeClock& clock_;
  std::set<pid_t> attached_;
};

// Builders for readable tests.
ProcessInfo MakeProcess(pid_t pid, pid_t ppid, const std::string& comm, uid_t uid = 1000);
GpuInfo MakeGpu(unsigned index, Bytes total, std::vector<GpuProcess> processes);

}  // namespace vg::testing
