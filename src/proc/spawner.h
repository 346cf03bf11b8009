// Starting a service's main process: in a new session, with the instance tag in its environment,
// stdin from /dev/null, stdout and stderr to pipes the daemon reads, optionally inside a cgroup.
//
// Contract:
//  - Spawn returns once the child has exec'd (or failed to): exec, chdir, user switch and cgroup
//    failures travel back from the child over a CLOEXEC pipe as errno + step, the failed child is
//    reaped, and Spawn returns e.g. kNotFound "cannot start 'python3': No such file or directory
//    (exec)". That handshake is the only wait: microseconds to a few milliseconds.
//  - The caller owns every descriptor in SpawnedProcess (all O_CLOEXEC) and must reap the child
//    (waitpid, or wait on the pidfd and then waitpid). stdout_fd / stderr_fd are O_NONBLOCK read
//    ends, ready for asio::posix::stream_descriptor. pidfd is -1 only on kernels without pidfds.
//  - The child: setsid(); signal dispositions reset to default and mask cleared (the daemon's
//    own handlers, ignored signals and blocked signals never leak); stdin /dev/null; cwd; when
//    root and uid is set: supplementary groups of that user (initgroups), gid, uid, verified;
//    every descriptor but 0, 1, 2 closed; environment = the daemon's minus the systemd
//    variables (kStrippedEnvVars) and any inherited VRAMGUARD_INSTANCE, plus spec.env, plus
//    VRAMGUARD_INSTANCE=instance_tag when the tag is not empty.
//  - argv[0] without a slash is searched in PATH (spec.env's PATH when it sets one, else the
//    daemon's) the way execvp does, but without the /bin/sh fallback. A relative argv[0] with
//    a slash is relative to cwd.
//  - Safe to call from a multi-threaded process, from any thread: everything is prepared before
//    forking and the child only makes raw system calls. Signals are blocked in the calling
//    thread around the fork. PosixSpawner itself holds no state but a "clone3 works" flag.
//  - cgroup: clone3(CLONE_PIDFD | CLONE_INTO_CGROUP) starts the child inside the group; where
//    the kernel lacks clone3 the child joins by writing to cgroup.procs before anything else.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace vg {

struct SpawnSpec {
  std::vector<std::string> argv;           // argv[0] resolved via PATH when it has no slash
  std::string cwd;                         // empty: the daemon's own
  std::map<std::string, std::string> env;  // added or overriding
  std::optional<uid_t> uid;  // switch user when root; supplementary groups of that user
  std::optional<gid_t> gid;  // default: the primary group of uid
  std::string instance_tag;  // exported as VRAMGUARD_INSTANCE
  std::string cgroup;        // absolute cgroup directory to start in, or empty
  // When set, stdout and stderr go straight to this file (O_APPEND, created 0640) instead of
  // pipes: the output then survives the daemon's own restart and never hits a closed pipe.
  std::string output_path;
};

struct SpawnedProcess {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // /proc/<pid>/stat field 22, clock ticks since boot
  int pidfd = -1;
  int stdout_fd = -1;  // read ends, O_NONBLOCK | O_CLOEXEC; the caller owns all fds; -1 with
                       // SpawnSpec::output_path
  int stderr_fd = -1;
};

class Spawner {
 public:
  virtual ~Spawner() = default;
  virtual Result<SpawnedProcess> Spawn(const SpawnSpec& spec) = 0;
};

// Variables a service must not inherit from the daemon: they describe the daemon's own systemd
// unit (notify socket, watchdog, socket activation, invocation id).
inline constexpr std::array<std::string_view, 7> kStrippedEnvVars = {
    "NOTIFY_SOCKET", "WATCHDOG_PID",   "WATCHDOG_USEC", "LISTEN_FDS",
    "LISTEN_PID",    "LISTEN_FDNAMES", "INVOCATION_ID",
};

class PosixSpawner final : public Spawner {
 public:
  enum class Mode {
    kAuto,      // clone3 when the kernel has it, else fork + pidfd_open
    kForkOnly,  // always fork + pidfd_open + the child writing cgroup.procs (tests, old kernels)
  };

  explicit PosixSpawner(Mode mode = Mode::kAuto) : use_clone3_(mode == Mode::kAuto) {}

  Result<SpawnedProcess> Spawn(const SpawnSpec& spec) override;

  // Whether clone3 is still in use (false after ENOSYS or in kForkOnly mode).
  bool UsesClone3() const { return use_clone3_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> use_clone3_;
};

// Makes the calling process a child subreaper (prctl PR_SET_CHILD_SUBREAPER): orphaned
// descendants of its children are reparented to it instead of to init, so a service's
// double-forked or setsid'd processes stay visible (and waitable) to the daemon.
Result<void> BecomeChildSubreaper();

}  // namespace vg
