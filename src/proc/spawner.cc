#include "proc/spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "proc/pidfd.h"
#include "proc/procfs.h"
#include "util/unique_fd.h"

extern char** environ;

namespace vg {
namespace {

#ifdef SYS_clone3
constexpr long kSysClone3 = SYS_clone3;
#else
constexpr long kSysClone3 = 435;
#endif
#ifdef SYS_close_range
constexpr long kSysCloseRange = SYS_close_range;
#else
constexpr long kSysCloseRange = 436;
#endif

constexpr std::uint64_t kClonePidfd = 0x00001000ULL;        // CLONE_PIDFD
constexpr std::uint64_t kCloneIntoCgroup = 0x200000000ULL;  // CLONE_INTO_CGROUP
constexpr unsigned kCloseRangeCloexec = 1U << 2;            // CLOSE_RANGE_CLOEXEC

// struct clone_args up to and including `cgroup` (CLONE_ARGS_SIZE_VER2), declared here so the
// build does not depend on the kernel headers' version.
struct CloneArgs {
  std::uint64_t flags = 0;
  std::uint64_t pidfd = 0;
  std::uint64_t child_tid = 0;
  std::uint64_t parent_tid = 0;
  std::uint64_t exit_signal = 0;
  std::uint64_t stack = 0;
  std::uint64_t stack_size = 0;
  std::uint64_t tls = 0;
  std::uint64_t set_tid = 0;
  std::uint64_t set_tid_size = 0;
  std::uint64_t cgroup = 0;
};

// The step of the child's set-up that failed, sent back with errno; indexes kSteps.
enum class Step : int {
  kCgroup,
  kSetsid,
  kStdin,
  kStdout,
  kStderr,
  kChdir,
  kSetgroups,
  kSetgid,
  kSetuid,
  kExec,
};

struct StepText {
  const char* name;  // shown in parentheses after the error
  const char* hint;
};

constexpr const char* kUserHint = "check the service's user and group";
constexpr StepText kSteps[] = {
    {"cgroup", "the cgroup could not be joined; the daemon can run services without cgroups"},
    {"setsid", ""},
    {"stdin", ""},
    {"stdout", ""},
    {"stderr", ""},
    {"chdir", "check the service's cwd: it must be an existing directory the user can enter"},
    {"setgroups", kUserHint},
    {"setgid", kUserHint},
    {"setuid", kUserHint},
    {"exec",
     "check the service's command: the program must exist and be executable (a name without "
     "'/' is searched in PATH)"},
};

const StepText& TextOf(Step step) {
  static constexpr StepText kUnknown{"?", ""};
  const auto i = static_cast<std::size_t>(step);
  return i < std::size(kSteps) ? kSteps[i] : kUnknown;
}

struct ChildFailure {
  int err = 0;
  int step = 0;
};

// The kernel's struct sigaction for rt_sigaction (x86-64 and arm64 share this layout).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};

// Moves fd to a number >= 3 (keeping O_CLOEXEC) so the child's dup2 onto 0, 1, 2 can never
// overwrite a descriptor it still needs, even when the daemon runs with 0-2 closed.
Result<UniqueFd> AboveStdio(int fd, const char* what) {
  if (fd < 0) return std::unexpected(ErrnoError(what, errno));
  if (fd > 2) return UniqueFd(fd);
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int err = errno;
  ::close(fd);
  if (moved < 0) return std::unexpected(ErrnoError(what, err));
  return UniqueFd(moved);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> MakePipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(ErrnoError(what, errno));
  auto read = AboveStdio(fds[0], what);
  auto write = AboveStdio(fds[1], what);
  if (!read) return std::unexpected(read.error());
  if (!write) return std::unexpected(write.error());
  return Pipe{std::move(*read), std::move(*write)};
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Everything the child needs, prepared before forking: after the fork it may only make
// async-signal-safe calls, so no allocation, no locks, no NSS.
struct ChildPlan {
  std::vector<std::string> exec_paths;  // execvp-style candidates for argv[0], in order
  std::vector<std::string> argv_storage;
  std::vector<std::string> envp_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  const char* cwd = nullptr;
  int devnull = -1;
  int stdout_w = -1;
  int stderr_w = -1;
  int report_w = -1;
  int cgroup_procs = -1;  // join by writing to cgroup.procs (fork path only)
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  int max_fd = 0;  // for the fd-closing fallback without close_range
  sigset_t empty_mask;
};

// Reports a failed step to the parent and exits. Async-signal-safe.
[[noreturn]] void ChildFail(const ChildPlan& plan, Step step, int err) {
  const ChildFailure f{err, static_cast<int>(step)};
  const char* p = reinterpret_cast<const char*>(&f);
  std::size_t left = sizeof(f);
  while (left > 0) {
    const ssize_t n = ::write(plan.report_w, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::_exit(127);
}

bool Dup2(int from, int to) {
  for (;;) {
    if (::dup2(from, to) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

// Runs in the child between fork and exec: raw system calls only (see the header).
[[noreturn]] void RunChild(const ChildPlan& plan) {
  if (plan.cgroup_procs >= 0) {
    // "0" moves the writer itself.
    if (::write(plan.cgroup_procs, "0", 1) != 1) ChildFail(plan, Step::kCgroup, errno);
  }
  if (::setsid() < 0) ChildFail(plan, Step::kSetsid, errno);

  // Default dispositions for everything: exec resets handlers but keeps SIG_IGN.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (::sigaction(sig, &dfl, nullptr) != 0) {
      // glibc refuses its internal signals (32, 33) with EINVAL, but a SIG_IGN on them that the
      // daemon inherited would survive exec: reset them with the raw system call.
      KernelSigaction k{};
      k.handler = SIG_DFL;
      (void)::syscall(SYS_rt_sigaction, sig, &k, nullptr, sizeof(k.mask));
    }
  }

  if (!Dup2(plan.devnull, STDIN_FILENO)) ChildFail(plan, Step::kStdin, errno);
  if (!Dup2(plan.stdout_w, STDOUT_FILENO)) ChildFail(plan, Step::kStdout, errno);
  if (!Dup2(plan.stderr_w, STDERR_FILENO)) ChildFail(plan, Step::kStderr, errno);

  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) ChildFail(plan, Step::kChdir, errno);

  if (plan.switch_user) {
    // Raw system calls: glibc's wrappers would try to broadcast the change to the parent's
    // other threads, which do not exist in this child.
    if (::syscall(SYS_setgroups, plan.groups.size(), plan.groups.data()) != 0) {
      ChildFail(plan, Step::kSetgroups, errno);
    }
    if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) {
      ChildFail(plan, Step::kSetgid, errno);
    }
    if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
      ChildFail(plan, Step::kSetuid, errno);
    }
    uid_t r = 0, e = 0, s = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::syscall(SYS_getresuid, &r, &e, &s) != 0 || r != plan.uid || e != plan.uid ||
        s != plan.uid) {
      ChildFail(plan, Step::kSetuid, EPERM);
    }
    if (::syscall(SYS_getresgid, &rg, &eg, &sg) != 0 || rg != plan.gid || eg != plan.gid ||
        sg != plan.gid) {
      ChildFail(plan, Step::kSetgid, EPERM);
    }
  }

  // Every descriptor above stderr closes at exec; the report pipe stays usable until then.
  if (::syscall(kSysCloseRange, 3U, ~0U, kCloseRangeCloexec) != 0) {
    for (int fd = 3; fd < plan.max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }

  ::sigprocmask(SIG_SETMASK, &plan.empty_mask, nullptr);

  // execvp's rules without its /bin/sh fallback: keep searching past ENOENT-like errors,
  // remember EACCES, stop at anything else.
  int err = ENOENT;
  bool saw_eacces = false;
  for (const std::string& path : plan.exec_paths) {
    ::execve(path.c_str(), plan.argv.data(), plan.envp.data());
    err = errno;
    if (err == EACCES) {
      saw_eacces = true;
      continue;
    }
    if (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT) {
      continue;
    }
    break;
  }
  if (saw_eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  ChildFail(plan, Step::kExec, err);
}

// execvp-style candidates for argv0.
std::vector<std::string> ExecCandidates(const std::string& argv0, const std::string& path_var) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = path_var.find(':', start);
    std::string dir = path_var.substr(start, colon == std::string::npos ? colon : colon - start);
    if (dir.empty()) dir = ".";  // an empty PATH entry means the current directory
    out.push_back(dir + "/" + argv0);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

bool Stripped(std::string_view name) {
  if (name == "VRAMGUARD_INSTANCE") return true;
  return std::find(kStrippedEnvVars.begin(), kStrippedEnvVars.end(), name) !=
         kStrippedEnvVars.end();
}

Result<void> BuildEnvironment(const SpawnSpec& spec, ChildPlan* plan) {
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find('=') != std::string::npos || HasNul(key) || HasNul(value)) {
      return Fail(ErrorCode::kInvalidArgument, "invalid environment variable name '" + key + "'",
                  "names must be non-empty and contain neither '=' nor NUL");
    }
  }
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (Stripped(name) || spec.env.contains(std::string(name))) continue;
    plan->envp_storage.emplace_back(entry);
  }
  for (const auto& [key, value] : spec.env) {
    if (key == "VRAMGUARD_INSTANCE") continue;  // the tag is the spawner's to set
    plan->envp_storage.push_back(key + "=" + value);
  }
  if (!spec.instance_tag.empty()) {
    if (HasNul(spec.instance_tag)) {
      return Fail(ErrorCode::kInvalidArgument, "instance tag contains NUL");
    }
    plan->envp_storage.push_back(std::string("VRAMGUARD_INSTANCE=") + spec.instance_tag);
  }
  return {};
}

std::string PathForSearch(const SpawnSpec& spec) {
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) return it->second;
  const char* path = std::getenv("PATH");
  return path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
}

// Resolves the user switch before forking (NSS lookups are not async-signal-safe).
Result<void> PlanUser(const SpawnSpec& spec, ChildPlan* plan) {
  if (!spec.uid && !spec.gid) return {};
  const std::string who = "'" + spec.argv[0] + "'";
  if (::geteuid() != 0) {
    const bool same_uid = !spec.uid || *spec.uid == ::geteuid();
    const bool same_gid = !spec.gid || *spec.gid == ::getegid();
    if (same_uid && same_gid) return {};  // already that user: nothing to switch
    return Fail(ErrorCode::kPermissionDenied,
                "cannot start " + who + " as another user: vramguard is not running as root",
                "run the daemon as root, or drop the service's user setting");
  }
  plan->switch_user = true;
  plan->uid = spec.uid.value_or(0);
  if (!spec.uid) {
    // Group only: keep root, change the group, drop root's supplementary groups.
    plan->gid = *spec.gid;
    plan->groups = {plan->gid};
    return {};
  }
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwuid_r(*spec.uid, &pw, buf.data(), buf.size(), &found)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (found == nullptr && !spec.gid) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot start " + who + " as uid " + std::to_string(*spec.uid) +
                    ": the uid has no passwd entry and no group was given",
                "set the service's group explicitly");
  }
  plan->gid = spec.gid ? *spec.gid : found->pw_gid;
  if (found == nullptr) {
    plan->groups = {plan->gid};
    return {};
  }
  // initgroups' list, computed here and applied with setgroups in the child.
  int count = 64;
  plan->groups.resize(static_cast<std::size_t>(count));
  while (::getgrouplist(found->pw_name, plan->gid, plan->groups.data(), &count) < 0) {
    plan->groups.resize(static_cast<std::size_t>(count) + 64);
    count = static_cast<int>(plan->groups.size());
  }
  plan->groups.resize(static_cast<std::size_t>(count));
  return {};
}

// Blocks every signal in the calling thread for its lifetime, so no handler of the daemon runs
// in the child before the child resets the dispositions.
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~SignalBlock() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  sigset_t old_;
};

void ReapBlocking(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// Reads the child's report: nullopt once exec closed the pipe, else what failed.
std::optional<ChildFailure> ReadReport(int fd) {
  ChildFailure f;
  char* p = reinterpret_cast<char*>(&f);
  std::size_t got = 0;
  while (got < sizeof(f)) {
    const ssize_t n = ::read(fd, p + got, sizeof(f) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < sizeof(f)) return std::nullopt;  // exec'd (or died before reporting)
  return f;
}

}  // namespace

Result<SpawnedProcess> PosixSpawner::Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Fail(ErrorCode::kInvalidArgument, "cannot start a service with an empty command");
  }
  for (const std::string& arg : spec.argv) {
    if (HasNul(arg)) return Fail(ErrorCode::kInvalidArgument, "command argument contains NUL");
  }
  if (HasNul(spec.cwd)) return Fail(ErrorCode::kInvalidArgument, "cwd contains NUL");
  const std::string who = "'" + spec.argv[0] + "'";

  ChildPlan plan;
  plan.exec_paths = ExecCandidates(spec.argv[0], PathForSearch(spec));
  plan.argv_storage = spec.argv;
  if (auto env = BuildEnvironment(spec, &plan); !env) return std::unexpected(env.error());
  if (auto user = PlanUser(spec, &plan); !user) return std::unexpected(user.error());
  for (std::string& a : plan.argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (std::string& e : plan.envp_storage) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  if (!spec.cwd.empty()) plan.cwd = spec.cwd.c_str();
  sigemptyset(&plan.empty_mask);
  rlimit nofile{};
  plan.max_fd = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < (1U << 20)
                    ? static_cast<int>(nofile.rlim_cur)
                    : (1 << 20);

  auto devnull = AboveStdio(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null");
  if (!devnull) return std::unexpected(devnull.error());
  const bool to_file = !spec.output_path.empty();
  auto out = to_file ? Result<Pipe>(Pipe{}) : MakePipe("stdout pipe");
  if (!out) return std::unexpected(out.error());
  auto err = to_file ? Result<Pipe>(Pipe{}) : MakePipe("stderr pipe");
  if (!err) return std::unexpected(err.error());
  UniqueFd output;
  if (to_file) {
    auto file = AboveStdio(
        ::open(spec.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640),
        "open the output file");
    if (!file) {
      Error e = file.error();
      e.message = "cannot start " + who + ": " + spec.output_path + ": " + e.message;
      return std::unexpected(e);
    }
    output = std::move(*file);
  }
  auto report = MakePipe("report pipe");
  if (!report) return std::unexpected(report.error());
  plan.devnull = devnull->get();
  plan.stdout_w = to_file ? output.get() : out->write.get();
  plan.stderr_w = to_file ? output.get() : err->write.get();
  plan.report_w = report->write.get();

  UniqueFd cgroup_dir;
  UniqueFd cgroup_procs;
  if (!spec.cgroup.empty()) {
    cgroup_dir = UniqueFd(::open(spec.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (cgroup_dir.get() < 0) {
      Error e = ErrnoError("cannot start " + who + ": cgroup " + spec.cgroup, errno);
      e.hint = TextOf(Step::kCgroup).hint;
      return std::unexpected(e);
    }
  }

  pid_t pid = -1;
  int pidfd = -1;
  {
    SignalBlock block;
    if (use_clone3_.load(std::memory_order_relaxed)) {
      CloneArgs args;
      args.flags = kClonePidfd;
      args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
      args.exit_signal = SIGCHLD;
      if (cgroup_dir.get() >= 0) {
        args.flags |= kCloneIntoCgroup;
        args.cgroup = static_cast<std::uint64_t>(cgroup_dir.get());
      }
      const long rc = ::syscall(kSysClone3, &args, sizeof(args));
      if (rc == 0) RunChild(plan);
      if (rc > 0) {
        pid = static_cast<pid_t>(rc);
      } else if (errno == ENOSYS || errno == E2BIG) {
        use_clone3_.store(false, std::memory_order_relaxed);  // old kernel or seccomp
      } else if (cgroup_dir.get() < 0) {
        return std::unexpected(ErrnoError("cannot start " + who + " (clone3)", errno));
      }
      // Other failures with CLONE_INTO_CGROUP: retry with fork so the child's write to
      // cgroup.procs reports why the cgroup cannot be joined (or joins it on kernels that
      // have clone3 but not CLONE_INTO_CGROUP).
    }
    if (pid < 0) {
      pidfd = -1;
      if (cgroup_dir.get() >= 0) {
        cgroup_procs = UniqueFd(::openat(cgroup_dir.get(), "cgroup.procs", O_WRONLY | O_CLOEXEC));
        if (cgroup_procs.get() < 0) {
          Error e = ErrnoError("cannot start " + who + ": " + spec.cgroup + "/cgroup.procs", errno);
          e.hint = TextOf(Step::kCgroup).hint;
          return std::unexpected(e);
        }
        plan.cgroup_procs = cgroup_procs.get();
      }
      pid = ::fork();
      if (pid == 0) RunChild(plan);
      if (pid < 0) return std::unexpected(ErrnoError("cannot start " + who + " (fork)", errno));
      pidfd = PidfdOpen(pid);  // -1 without pidfds
    }
  }
  UniqueFd pidfd_owner(pidfd);

  // The child's ends belong to the child now.
  devnull->Reset();
  out->write.Reset();
  err->write.Reset();
  report->write.Reset();

  if (std::optional<ChildFailure> failure = ReadReport(report->read.get())) {
    ReapBlocking(pid);
    const Step step = static_cast<Step>(failure->step);
    Error e = ErrnoError("cannot start " + who, failure->err);
    e.message += std::string(" (") + TextOf(step).name + ")";
    e.hint = TextOf(step).hint;
    return std::unexpected(e);
  }

  auto stat = ReadProcStat("/proc", pid);
  if (!stat) {
    ::kill(pid, SIGKILL);
    ReapBlocking(pid);
    return Fail(ErrorCode::kIo, "started " + who + " but cannot read its start time",
                stat.error().message);
  }
  output.Reset();
  for (int fd : {out->read.get(), err->read.get()}) {
    if (fd < 0) continue;
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }

  SpawnedProcess p;
  p.pid = pid;
  p.start_time = stat->start_time;
  p.pidfd = pidfd_owner.Release();
  p.stdout_fd = out->read.Release();
  p.stderr_fd = err->read.Release();
  return p;
}

Result<void> BecomeChildSubreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) {
    return std::unexpected(ErrnoError("cannot become a child subreaper", errno));
  }
  return {};
}

}  // namespace vg
