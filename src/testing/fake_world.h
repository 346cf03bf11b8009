// A small, coherent fake of the processes the supervisor runs: one object that is the Spawner,
// the ProcessControl and the ProcessSource, so what is spawned appears in the process table with
// its instance tag, a signal makes a process exit (or not: `ignore_term`), and the exit makes its
// exit descriptor (an eventfd) readable, exactly as a pidfd would for the real daemon loop.
// Records every spawn and every signal, so tests can ask "was the new instance ever signalled?".
// Single-threaded, like the daemon loop it serves.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proc/proc_events.h"
#include "proc/process.h"
#include "proc/process_control.h"
#include "proc/spawner.h"

namespace vg::testing {

class FakeWorld final : public Spawner, public ProcessControl, public ProcessSource {
 public:
  static constexpr pid_t kFirstPid = 200000;

  struct Proc {
    pid_t pid = 0;
    std::uint64_t start_time = 0;
    std::string tag;
    pid_t parent = 0;  // 0: the test process (the daemon), as spawned
    bool alive = true;
    bool ignore_term = false;
    std::optional<int> status;  // wait status once exited
    std::vector<int> exit_fds;  // eventfds to make readable at exit
    std::vector<int> signals;   // every signal it received, in order
  };

  FakeWorld() = default;
  ~FakeWorld() override;
  FakeWorld(const FakeWorld&) = delete;
  FakeWorld& operator=(const FakeWorld&) = delete;

  // Switches for the next spawns.
  bool ignore_term = false;
  std::optional<Error> fail_next_spawn;

  // Spawner
  Result<SpawnedProcess> Spawn(const SpawnSpec& spec) override;
  // ProcessControl
  std::unique_ptr<Signaller> NewSignaller() override;
  int OpenExitFd(pid_t pid) override;
  std::optional<int> TryReap(pid_t pid) override;
  // ProcessSource
  Result<std::vector<ProcessInfo>> List(Detail) override;
  Result<ProcessInfo> Get(pid_t pid) override;
  Result<HolderScan> ScanDeviceHolders() override {
    ++scans;
    return HolderScan{};
  }
  Result<std::vector<pid_t>> Children(pid_t pid) override;
  int lists = 0;  // whole-table reads (List), which the daemon's routine paths must not need
  int scans = 0;  // holder scans

  // A process forked by a live one (a worker): same tag unless given, parent `parent`. When
  // the parent exits, the child is reparented to the test process (the subreaper).
  pid_t Fork(pid_t parent, std::optional<std::string> tag = std::nullopt);
  Result<TableAndHolders> ListWithHolders(TableRows rows) override;

  // The kernel's process events (the proc connector) of this world: every Fork and Exit from
  // the moment the source is opened. `lose_events`: the next Drain says events were dropped.
  // `refuse_events`: opening fails as it does without CAP_NET_ADMIN.
  Result<std::unique_ptr<ProcEventSource>> OpenEvents();
  bool lose_events = false;
  bool refuse_events = false;
  int event_opens = 0;

  // The process exits by itself (a crash: status from waitpid's point of view). Its children go
  // to the subreaper (the test process) when it was in the daemon's tree, to init otherwise.
  void Exit(pid_t pid, int wait_status);
  // Delivers a signal as the kernel would: TERM ends it unless ignored, KILL always.
  void Deliver(pid_t pid, int sig);

  Proc* Find(pid_t pid);
  const std::vector<pid_t>& spawned() const { return spawned_; }
  std::vector<pid_t> Alive() const;
  const std::vector<SpawnSpec>& specs() const { return specs_; }

 private:
  std::map<pid_t, Proc> procs_;
  std::vector<pid_t> spawned_;
  std::vector<SpawnSpec> specs_;
  std::vector<ProcEvent> event_log_;
  bool InDaemonTree(pid_t pid);
  friend class WorldEvents;
};

}  // namespace vg::testing
