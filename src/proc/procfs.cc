#include "proc/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "util/unique_fd.h"

namespace vg {
namespace {

bool Vanished(int err) { return err == ENOENT || err == ESRCH; }

// Errors after which a process is left out of a listing rather than failing the whole call:
// it vanished, it is hidden from us (hidepid), or its files are malformed (EINVAL, ours).
bool SkipProcess(int err) {
  return Vanished(err) || err == EACCES || err == EPERM || err == EINVAL;
}

// The pid named by a /proc entry, or 0 when the name is not a positive decimal number.
pid_t PidFromName(const char* name) {
  const std::size_t len = std::strlen(name);
  if (len == 0 || name[0] < '1' || name[0] > '9') return 0;
  pid_t pid = 0;
  auto [ptr, ec] = std::from_chars(name, name + len, pid);
  if (ec != std::errc() || ptr != name + len) return 0;
  return pid;
}

// Writes pid as a NUL-terminated decimal string into buf.
void PidToName(pid_t pid, std::array<char, 16>* buf) {
  auto [ptr, ec] = std::to_chars(buf->data(), buf->data() + buf->size() - 1, pid);
  *ptr = '\0';
  (void)ec;
}

// Calls f(name, d_type) for each entry of an open directory. Returns 0 or an errno value.
// getdents64 into a stack buffer: opendir would allocate 32 KiB per directory.
template <class F>
int ForEachEntry(int dir_fd, F&& f) {
  alignas(alignof(struct dirent64)) std::array<char, 8192> buf;
  for (;;) {
    const ssize_t n = ::getdents64(dir_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    for (ssize_t off = 0; off < n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buf.data() + off);
      off += entry->d_reclen;
      f(entry->d_name, entry->d_type);
    }
  }
}

// The pids under an open proc root, sorted.
Result<std::vector<pid_t>> ListPids(int proc_fd, const std::string& proc_root) {
  std::vector<pid_t> pids;
  pids.reserve(1024);
  const int err = ForEachEntry(proc_fd, [&](const char* name, unsigned char type) {
    if (type != DT_DIR && type != DT_UNKNOWN) return;
    if (const pid_t pid = PidFromName(name); pid > 0) pids.push_back(pid);
  });
  if (err != 0) return std::unexpected(ErrnoError("cannot list " + proc_root, err));
  std::sort(pids.begin(), pids.end());
  return pids;
}

// A file's whole content: on the stack when it fits (stat, status, most cmdlines), else in a
// heap buffer that is kept for the next read.
class ReadBuffer {
 public:
  // Reads `path` relative to dir_fd. Returns 0 or an errno value. With short_read_is_eof, a read
  // that returns less than asked ends the file: true for procfs files rendered in one piece
  // (stat, status, cmdline, environ) and for regular files, and saves a read() per file.
  int Read(int dir_fd, const char* path, bool short_read_is_eof) {
    UniqueFd fd(::openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd.ok()) return errno;
    char* data = stack_.data();
    std::size_t cap = stack_.size();
    std::size_t len = 0;
    for (;;) {
      if (len == cap) {
        if (data == stack_.data()) {
          heap_.resize(cap * 4);
          std::memcpy(heap_.data(), stack_.data(), len);
        } else {
          heap_.resize(cap * 2);
        }
        data = heap_.data();
        cap = heap_.size();
      }
      const std::size_t want = cap - len;
      const ssize_t n = ::read(fd.get(), data + len, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) break;
      len += static_cast<std::size_t>(n);
      if (short_read_is_eof && static_cast<std::size_t>(n) < want) break;
    }
    view_ = std::string_view(data, len);
    return 0;
  }

  std::string_view view() const { return view_; }

 private:
  std::array<char, 8192> stack_;
  std::string heap_;
  std::string_view view_;
};

// uid → name, looked up once per uid per call.
class UserNames {
 public:
  const std::string& For(uid_t uid) {
    for (const auto& [known, name] : names_) {
      if (known == uid) return name;
    }
    names_.emplace_back(uid, UserNameForUid(uid));
    return names_.back().second;
  }

 private:
  std::vector<std::pair<uid_t, std::string>> names_;
};

void FillFromStat(pid_t pid, procfs::StatFields&& stat, ProcessInfo* info) {
  info->pid = pid;
  info->ppid = stat.ppid;
  info->pgid = stat.pgrp;
  info->sid = stat.session;
  info->state = stat.state;
  info->start_time = stat.start_time;
  info->comm = std::move(stat.comm);
}

// Fills *info from the files of /proc/<pid>. Returns 0, or the errno that stopped it (EINVAL
// when a file is malformed).
int ReadProcess(int proc_fd, pid_t pid, Detail detail, ReadBuffer* buf, UserNames* users,
                ProcessInfo* info) {
  std::array<char, 16> name;
  PidToName(pid, &name);
  if (detail == Detail::kTree) {
    // The cheapest read, for whole tables: <pid>/stat and the owner of <pid>, two system calls
    // fewer than through a directory descriptor (one file is read, so nothing can mix).
    std::array<char, 32> stat_path;
    std::snprintf(stat_path.data(), stat_path.size(), "%s/stat", name.data());
    if (const int err = buf->Read(proc_fd, stat_path.data(), true)) return err;
    std::optional<procfs::StatFields> stat = procfs::ParseStat(buf->view());
    if (!stat) return EINVAL;
    struct stat st {};
    if (::fstatat(proc_fd, name.data(), &st, 0) != 0) return errno;
    FillFromStat(pid, std::move(*stat), info);
    info->uid = st.st_uid;
    info->user = users->For(info->uid);
    return 0;
  }
  // Everything is read relative to this directory: if the pid is recycled meanwhile, the reads
  // fail (ESRCH/ENOENT) instead of mixing two processes.
  UniqueFd dir(::openat(proc_fd, name.data(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) return errno;

  if (const int err = buf->Read(dir.get(), "stat", true)) return err;
  std::optional<procfs::StatFields> stat = procfs::ParseStat(buf->view());
  if (!stat) return EINVAL;
  FillFromStat(pid, std::move(*stat), info);

  if (const int err = buf->Read(dir.get(), "status", true)) return err;
  std::optional<procfs::StatusFields> status = procfs::ParseStatus(buf->view());
  if (!status) return EINVAL;
  info->uid = status->uid;
  info->nspid = std::move(status->nspid);
  info->user = users->For(info->uid);

  if (const int err = buf->Read(dir.get(), "cmdline", true); err == 0) {
    info->argv = procfs::ParseCmdline(buf->view());
  } else if (Vanished(err)) {
    return err;
  }

  if (detail == Detail::kFull) {
    std::array<char, PATH_MAX> link;
    const ssize_t n = ::readlinkat(dir.get(), "cwd", link.data(), link.size());
    if (n > 0 && static_cast<std::size_t>(n) < link.size()) {
      info->cwd = std::string(link.data(), static_cast<std::size_t>(n));
    }
    if (buf->Read(dir.get(), "environ", true) == 0) {
      info->instance_tag = procfs::FindEnvValue(buf->view(), kInstanceTagVar);
    }
  }
  return 0;
}

std::string Canonical(const std::string& dir) {
  std::unique_ptr<char, decltype(&::free)> resolved(::realpath(dir.c_str(), nullptr), &::free);
  std::string out = resolved ? std::string(resolved.get()) : dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string PidPath(const std::string& proc_root, pid_t pid, const char* file) {
  return proc_root + "/" + std::to_string(pid) + "/" + file;
}

// Reading procfs is kernel-bound (~12 µs per process for stat + status + cmdline on a VM), and
// different processes' files render in parallel. Large tables are split into contiguous chunks
// read by up to kMaxThreads threads, all joined before the call returns.
constexpr std::size_t kMaxThreads = 8;
constexpr std::size_t kMinPidsPerThread = 256;

// Calls read_chunk(span) on contiguous chunks of pids, the first on the calling thread, and
// returns the results in chunk order.
template <class R, class F>
std::vector<R> ReadInChunks(std::span<const pid_t> pids, F read_chunk) {
  const std::size_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t chunks =
      std::clamp<std::size_t>(pids.size() / kMinPidsPerThread, 1, std::min(hardware, kMaxThreads));
  std::vector<std::optional<R>> results(chunks);
  std::vector<std::thread> threads;
  // Workers start with every signal blocked, so signals meant for the caller's process (SIGCHLD,
  // SIGTERM) are never delivered to them.
  sigset_t all_signals;
  sigset_t caller_mask;
  ::sigfillset(&all_signals);
  const bool masked = chunks > 1 && ::pthread_sigmask(SIG_SETMASK, &all_signals, &caller_mask) == 0;
  const std::size_t per_chunk = (pids.size() + chunks - 1) / chunks;
  auto chunk = [&](std::size_t i) {
    const std::size_t begin = std::min(pids.size(), i * per_chunk);
    return pids.subspan(begin, std::min(per_chunk, pids.size() - begin));
  };
  for (std::size_t i = 1; i < chunks; ++i) {
    try {
      threads.emplace_back(
          [&results, &read_chunk, span = chunk(i), i] { results[i].emplace(read_chunk(span)); });
    } catch (const std::system_error&) {
      results[i].emplace(read_chunk(chunk(i)));  // no thread to be had: read it here
    }
  }
  if (masked) ::pthread_sigmask(SIG_SETMASK, &caller_mask, nullptr);
  results[0].emplace(read_chunk(chunk(0)));
  for (std::thread& t : threads) t.join();
  std::vector<R> out;
  out.reserve(chunks);
  for (std::optional<R>& r : results) out.push_back(std::move(*r));
  return out;
}

}  // namespace

std::string UserNameForUid(uid_t uid) {
  std::array<char, 4096> stack_buf;
  std::vector<char> heap_buf;
  char* buf = stack_buf.data();
  std::size_t size = stack_buf.size();
  for (;;) {
    struct passwd pw;
    struct passwd* result = nullptr;
    const int rc = ::getpwuid_r(uid, &pw, buf, size, &result);
    if (rc == ERANGE && size < (1u << 20)) {
      size *= 4;
      heap_buf.resize(size);
      buf = heap_buf.data();
      continue;
    }
    if (rc == 0 && result != nullptr && result->pw_name != nullptr) return result->pw_name;
    return std::to_string(uid);
  }
}

Result<procfs::StatFields> ReadProcStat(const std::string& proc_root, pid_t pid) {
  ReadBuffer buf;
  const std::string path = PidPath(proc_root, pid, "stat");
  if (const int err = buf.Read(AT_FDCWD, path.c_str(), true)) {
    return std::unexpected(ErrnoError("cannot read " + path, err));
  }
  std::optional<procfs::StatFields> stat = procfs::ParseStat(buf.view());
  if (!stat) return Fail(ErrorCode::kIo, "malformed " + path);
  return std::move(*stat);
}

Result<procfs::StatusFields> ReadProcStatus(const std::string& proc_root, pid_t pid) {
  ReadBuffer buf;
  const std::string path = PidPath(proc_root, pid, "status");
  if (const int err = buf.Read(AT_FDCWD, path.c_str(), true)) {
    return std::unexpected(ErrnoError("cannot read " + path, err));
  }
  std::optional<procfs::StatusFields> status = procfs::ParseStatus(buf.view());
  if (!status) return Fail(ErrorCode::kIo, "malformed " + path);
  return std::move(*status);
}

ProcfsSource::ProcfsSource(std::string proc_root, const std::string& device_dir)
    : proc_root_(std::move(proc_root)), device_dir_(Canonical(device_dir)) {}

Result<std::vector<ProcessInfo>> ProcfsSource::List(Detail detail) {
  UniqueFd proc(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root_, errno));
  Result<std::vector<pid_t>> pids = ListPids(proc.get(), proc_root_);
  if (!pids) return std::unexpected(std::move(pids.error()));

  auto read_chunk = [&](std::span<const pid_t> chunk) -> Result<std::vector<ProcessInfo>> {
    std::vector<ProcessInfo> out;
    out.reserve(chunk.size());
    ReadBuffer buf;
    UserNames users;
    for (const pid_t pid : chunk) {
      ProcessInfo& info = out.emplace_back();
      const int err = ReadProcess(proc.get(), pid, detail, &buf, &users, &info);
      if (err == 0) continue;
      out.pop_back();
      if (SkipProcess(err)) continue;
      return std::unexpected(ErrnoError("cannot read " + PidPath(proc_root_, pid, ""), err));
    }
    return out;
  };
  std::vector<Result<std::vector<ProcessInfo>>> chunks =
      ReadInChunks<Result<std::vector<ProcessInfo>>>(*pids, read_chunk);
  if (chunks.size() == 1) return std::move(chunks.front());
  std::vector<ProcessInfo> out;
  out.reserve(pids->size());
  for (Result<std::vector<ProcessInfo>>& chunk : chunks) {
    if (!chunk) return std::unexpected(std::move(chunk.error()));
    std::move(chunk->begin(), chunk->end(), std::back_inserter(out));
  }
  return out;
}

Result<ProcessInfo> ProcfsSource::Get(pid_t pid) {
  if (pid <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
  UniqueFd proc(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root_, errno));
  ReadBuffer buf;
  UserNames users;
  ProcessInfo info;
  const int err = ReadProcess(proc.get(), pid, Detail::kFull, &buf, &users, &info);
  if (err == 0) return info;
  if (Vanished(err)) {
    return Fail(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid),
                "it has exited; list processes again");
  }
  if (err == EINVAL) {
    return Fail(ErrorCode::kIo, "malformed process files under " + PidPath(proc_root_, pid, ""));
  }
  return std::unexpected(ErrnoError("cannot read " + PidPath(proc_root_, pid, ""), err));
}

Result<HolderScan> ProcfsSource::ScanDeviceHolders() {
  UniqueFd proc(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root_, errno));
  Result<std::vector<pid_t>> pids = ListPids(proc.get(), proc_root_);
  if (!pids) return std::unexpected(std::move(pids.error()));

  // Cheap filter on each fd link before parsing it: "<device_dir>/nvidia".
  const std::string node_prefix = (device_dir_ == "/" ? std::string() : device_dir_) + "/nvidia";
  auto scan_chunk = [&](std::span<const pid_t> chunk) -> Result<HolderScan> {
    HolderScan scan;
    std::string maps;  // reused across holders
    std::array<char, PATH_MAX> link;
    for (const pid_t pid : chunk) {
      std::array<char, 16> name;
      PidToName(pid, &name);
      DeviceHolder holder;
      holder.pid = pid;
      UniqueFd dir(::openat(proc.get(), name.data(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      int err = dir.ok() ? 0 : errno;
      UniqueFd fds(dir.ok() ? ::openat(dir.get(), "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
      if (err == 0 && !fds.ok()) err = errno;
      if (err == 0) {
        err = ForEachEntry(fds.get(), [&](const char* entry, unsigned char) {
          if (entry[0] == '.') return;
          const ssize_t n = ::readlinkat(fds.get(), entry, link.data(), link.size());
          if (n <= 0 || static_cast<std::size_t>(n) >= link.size()) return;  // closed meanwhile
          const std::string_view target(link.data(), static_cast<std::size_t>(n));
          if (!target.starts_with(node_prefix)) return;
          if (const auto minor = procfs::ParseDeviceMinor(target, device_dir_)) {
            holder.open_minors.push_back(*minor);
          } else if (procfs::IsCtlNode(target, device_dir_)) {
            holder.opens_ctl = true;
          }
        });
      }
      if (err == EACCES || err == EPERM) {
        ++scan.unreadable;
        continue;
      }
      if (Vanished(err)) continue;  // exited, or (fixture trees) no fd directory at all
      if (err != 0) {
        // Out of descriptors or memory: a partial holder list could mislead a reaper.
        return std::unexpected(ErrnoError("cannot read " + PidPath(proc_root_, pid, "fd"), err));
      }
      if (holder.open_minors.empty() && !holder.opens_ctl) continue;
      std::sort(holder.open_minors.begin(), holder.open_minors.end());
      holder.open_minors.erase(std::unique(holder.open_minors.begin(), holder.open_minors.end()),
                               holder.open_minors.end());

      // Only holders get their maps read: a mapped nvidia<N> is a CUDA context.
      UniqueFd maps_fd(::openat(dir.get(), "maps", O_RDONLY | O_CLOEXEC));
      int maps_err = maps_fd.ok() ? 0 : errno;
      if (maps_fd.ok()) {
        std::size_t len = 0;
        for (;;) {
          if (maps.size() - len < 4096) maps.resize(std::max<std::size_t>(maps.size() * 2, 65536));
          const ssize_t n = ::read(maps_fd.get(), maps.data() + len, maps.size() - len);
          if (n < 0) {
            if (errno == EINTR) continue;
            maps_err = errno;
            break;
          }
          if (n == 0) break;
          len += static_cast<std::size_t>(n);
        }
        if (maps_err == 0) {
          holder.mapped_minors =
              procfs::ParseMappedMinors(std::string_view(maps.data(), len), device_dir_);
        }
      }
      if (Vanished(maps_err)) continue;
      if (maps_err != 0) ++scan.unreadable;  // holder kept; whether it maps a node is unknown
      scan.holders.push_back(std::move(holder));
    }
    return scan;
  };
  std::vector<Result<HolderScan>> chunks = ReadInChunks<Result<HolderScan>>(*pids, scan_chunk);
  HolderScan scan;
  for (Result<HolderScan>& chunk : chunks) {
    if (!chunk) return std::unexpected(std::move(chunk.error()));
    scan.unreadable += chunk->unreadable;
    std::move(chunk->holders.begin(), chunk->holders.end(), std::back_inserter(scan.holders));
  }
  return scan;
}

Result<std::vector<pid_t>> ProcfsSource::Children(pid_t pid) {
  if (pid <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
  std::array<char, 32> task_path;
  std::snprintf(task_path.data(), task_path.size(), "%d/task", static_cast<int>(pid));
  UniqueFd proc(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root_, errno));
  UniqueFd tasks(::openat(proc.get(), task_path.data(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!tasks.ok()) {
    if (Vanished(errno)) {
      return Fail(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
    }
    return std::unexpected(ErrnoError("cannot open " + PidPath(proc_root_, pid, "task"), errno));
  }
  // Each thread keeps the children it forked (and, for a subreaper, the orphans it adopted):
  // every thread's list is read. A thread that ends meanwhile is skipped.
  std::vector<pid_t> out;
  ReadBuffer buf;
  int missing = 0;
  int threads = 0;
  const int err = ForEachEntry(tasks.get(), [&](const char* name, unsigned char) {
    const pid_t tid = PidFromName(name);
    if (tid <= 0) return;
    ++threads;
    std::array<char, 32> path;
    std::snprintf(path.data(), path.size(), "%d/children", static_cast<int>(tid));
    const int e = buf.Read(tasks.get(), path.data(), false);
    if (e == 0) {
      procfs::ParsePidList(buf.view(), &out);
    } else if (e == ENOENT) {
      ++missing;
    }
  });
  if (err != 0) {
    if (Vanished(err))
      return Fail(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
    return std::unexpected(ErrnoError("cannot list " + PidPath(proc_root_, pid, "task"), err));
  }
  if (threads > 0 && missing == threads) {
    // Every thread ended this instant (the process is exiting: no children worth following),
    // or the kernel lacks the files: the running kernel's own file tells them apart.
    static const bool kernel_has_them = ::access("/proc/thread-self/children", F_OK) == 0;
    if (!kernel_has_them) {
      return Fail(ErrorCode::kIo, "this kernel has no /proc/<pid>/task/<tid>/children files",
                  "it was built without CONFIG_PROC_CHILDREN");
    }
    if (::faccessat(proc.get(), task_path.data(), F_OK, 0) != 0) {
      return Fail(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace vg
