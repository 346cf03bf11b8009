#include "testing/fake_world.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vg::testing {
namespace {

// Signals through the world; exits are seen at once (no waiting: the daemon polls).
class WorldSignaller final : public Signaller {
 public:
  explicit WorldSignaller(FakeWorld& world) : world_(world) {}
  Result<void> Attach(pid_t pid, std::uint64_t start_time) override {
    FakeWorld::Proc* p = world_.Find(pid);
    if (!p || !p->alive) return Fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
    if (p->start_time != start_time)
      return Fail(ErrorCode::kRefused, "pid " + std::to_string(pid) + " was recycled");
    attached_.push_back(pid);
    return {};
  }
  Result<void> Signal(pid_t pid, int sig) override {
    world_.Deliver(pid, sig);
    return {};
  }
  std::vector<pid_t> WaitForExit(const std::vector<pid_t>& pids,
                                 std::chrono::nanoseconds) override {
    std::vector<pid_t> alive;
    for (pid_t pid : pids) {
      FakeWorld::Proc* p = world_.Find(pid);
      if (p && p->alive) alive.push_back(pid);
    }
    return alive;
  }
  void DetachAll() override { attached_.clear(); }

 private:
  FakeWorld& world_;
  std::vector<pid_t> attached_;
};

}  // namespace

class WorldEvents final : public ProcEventSource {
 public:
  explicit WorldEvents(FakeWorld& world) : world_(world), next_(world.event_log_.size()) {}
  Result<DrainedEvents> Drain() override {
    DrainedEvents out;
    if (world_.lose_events) {
      world_.lose_events = false;
      out.lost = true;
      next_ = world_.event_log_.size();  // what was dropped is gone
      return out;
    }
    out.events.assign(world_.event_log_.begin() + static_cast<std::ptrdiff_t>(next_),
                      world_.event_log_.end());
    next_ = world_.event_log_.size();
    return out;
  }

 private:
  FakeWorld& world_;
  std::size_t next_;
};

Result<std::unique_ptr<ProcEventSource>> FakeWorld::OpenEvents() {
  ++event_opens;
  if (refuse_events) {
    return Fail(ErrorCode::kPermissionDenied, "cannot subscribe to process events: not permitted");
  }
  return std::unique_ptr<ProcEventSource>(new WorldEvents(*this));
}

bool FakeWorld::InDaemonTree(pid_t pid) {
  for (int depth = 0; depth < 1000; ++depth) {
    Proc* p = Find(pid);
    if (!p) return false;  // init (1) or unknown
    if (p->parent == 0) return true;
    pid = p->parent;
  }
  return false;
}

FakeWorld::~FakeWorld() {
  for (auto& [pid, p] : procs_) {
    for (int fd : p.exit_fds) ::close(fd);
  }
}

Result<SpawnedProcess> FakeWorld::Spawn(const SpawnSpec& spec) {
  specs_.push_back(spec);
  if (fail_next_spawn) {
    Error e = *fail_next_spawn;
    fail_next_spawn.reset();
    return std::unexpected(e);
  }
  Proc p;
  p.pid = kFirstPid + static_cast<pid_t>(procs_.size());  // as spawned_.size() without forks
  p.start_time = 7000 + procs_.size();
  p.tag = spec.instance_tag;
  p.ignore_term = ignore_term;
  spawned_.push_back(p.pid);
  SpawnedProcess out;
  out.pid = p.pid;
  out.start_time = p.start_time;
  procs_[p.pid] = std::move(p);
  event_log_.push_back({ProcEvent::Kind::kFork, out.pid, ::getpid()});
  return out;
}

std::unique_ptr<Signaller> FakeWorld::NewSignaller() {
  return std::make_unique<WorldSignaller>(*this);
}

int FakeWorld::OpenExitFd(pid_t pid) {
  Proc* p = Find(pid);
  if (!p) return -1;
  int fd = ::eventfd(p->alive ? 0 : 1, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return -1;
  // The caller owns fd; keep our own duplicate to signal through.
  int mine = ::dup(fd);
  if (mine >= 0) p->exit_fds.push_back(mine);
  return fd;
}

std::optional<int> FakeWorld::TryReap(pid_t pid) {
  Proc* p = Find(pid);
  if (!p || p->alive) return std::nullopt;
  return p->status;
}

Result<std::vector<ProcessInfo>> FakeWorld::List(Detail) {
  ++lists;
  std::vector<ProcessInfo> out;
  for (auto& [pid, p] : procs_) {
    if (!p.alive) continue;
    auto info = Get(pid);
    if (info) out.push_back(std::move(*info));
  }
  return out;
}

Result<TableAndHolders> FakeWorld::ListWithHolders(TableRows rows) {
  if (rows == TableRows::kHolders) return TableAndHolders{};  // nobody holds a device node
  auto table = List(Detail::kTree);
  if (!table) return std::unexpected(std::move(table.error()));
  return TableAndHolders{std::move(*table), HolderScan{}};
}

Result<ProcessInfo> FakeWorld::Get(pid_t pid) {
  Proc* p = Find(pid);
  if (!p || !p->alive) return Fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
  ProcessInfo info;
  info.pid = p->pid;
  info.ppid = p->parent != 0 ? p->parent : ::getpid();
  info.pgid = p->pid;
  info.sid = p->pid;
  info.uid = ::getuid();
  info.user = "test";
  info.start_time = p->start_time;
  info.state = 'S';
  info.comm = "svc";
  info.argv = {"svc"};
  info.instance_tag = p->tag;
  return info;
}

Result<std::vector<pid_t>> FakeWorld::Children(pid_t pid) {
  const pid_t self = ::getpid();
  if (pid != self) {
    Proc* p = Find(pid);
    if (!p || !p->alive) return Fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
  }
  std::vector<pid_t> out;
  for (const auto& [child, c] : procs_) {
    if (!c.alive) continue;
    if ((c.parent == 0 && pid == self) || (c.parent != 0 && c.parent == pid)) out.push_back(child);
  }
  return out;
}

pid_t FakeWorld::Fork(pid_t parent, std::optional<std::string> tag) {
  Proc* p = Find(parent);
  Proc child;
  child.pid = kFirstPid + static_cast<pid_t>(procs_.size());
  child.start_time = 1000 + procs_.size();
  child.tag = tag ? *tag : (p ? p->tag : std::string());
  child.parent = parent;
  const pid_t pid = child.pid;
  procs_.emplace(pid, std::move(child));
  event_log_.push_back({ProcEvent::Kind::kFork, pid, parent});
  return pid;
}

void FakeWorld::Exit(pid_t pid, int wait_status) {
  Proc* p = Find(pid);
  if (!p || !p->alive) return;
  const pid_t heir = InDaemonTree(pid) ? 0 : 1;  // the subreaper, or init
  p->alive = false;
  p->status = wait_status;
  for (auto& [child, c] : procs_) {
    if (c.parent == pid) c.parent = heir;
  }
  event_log_.push_back({ProcEvent::Kind::kExit, pid, 0});
  const std::uint64_t one = 1;
  for (int fd : p->exit_fds) (void)!::write(fd, &one, sizeof one);
}

void FakeWorld::Deliver(pid_t pid, int sig) {
  Proc* p = Find(pid);
  if (!p || !p->alive) return;
  p->signals.push_back(sig);
  if (sig == SIGKILL || (sig == SIGTERM && !p->ignore_term)) Exit(pid, sig);  // killed by sig
}

FakeWorld::Proc* FakeWorld::Find(pid_t pid) {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : &it->second;
}

std::vector<pid_t> FakeWorld::Alive() const {
  std::vector<pid_t> out;
  for (const auto& [pid, p] : procs_) {
    if (p.alive) out.push_back(pid);
  }
  return out;
}

}  // namespace vg::testing
