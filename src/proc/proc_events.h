// The kernel's process events (the netlink proc connector): every fork and exit on the machine,
// as they happen. The supervisor follows the processes of its services that live outside its own
// tree with them (ARCHITECTURE.md, "Who is ours"), instead of reading the whole process table.
//
// Contract:
//  - NetlinkProcEvents::Open() subscribes (PROC_CN_MCAST_LISTEN); it needs CAP_NET_ADMIN and the
//    initial network namespace. Without them it fails with kPermissionDenied / kUnavailable and
//    the caller keeps its fallback. Closing the object unsubscribes.
//  - Drain() returns, without blocking, the events queued since the last call: process-level
//    forks (a new thread is not reported) and exits of whole processes (the thread-group leader).
//    When the kernel dropped events (the socket's buffer overflowed: ENOBUFS) `lost` is set
//    once; the caller must resynchronise (read the table) and can then go on draining. A failure
//    (kIo) means the source is unusable: close it.
//  - At most kMaxDrain events per call; the rest stay queued for the next call.
//  - Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <vector>

#include "util/error.h"
#include "util/unique_fd.h"

namespace vg {

struct ProcEvent {
  enum class Kind { kFork, kExit };
  Kind kind = Kind::kFork;
  pid_t pid = 0;     // the new process (fork) or the one that ended (exit)
  pid_t parent = 0;  // fork: the process that forked
  bool operator==(const ProcEvent&) const = default;
};

struct DrainedEvents {
  std::vector<ProcEvent> events;
  bool lost = false;  // the kernel dropped some before these
};

class ProcEventSource {
 public:
  virtual ~ProcEventSource() = default;
  virtual Result<DrainedEvents> Drain() = 0;
};

class NetlinkProcEvents final : public ProcEventSource {
 public:
  static constexpr std::size_t kMaxDrain = 65536;
  static Result<std::unique_ptr<NetlinkProcEvents>> Open();
  ~NetlinkProcEvents() override;
  Result<DrainedEvents> Drain() override;
  int fd() const { return fd_.get(); }

 private:
  explicit NetlinkProcEvents(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace vg
