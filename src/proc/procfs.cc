#include "proc/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <cstdio>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "util/unique_fd.h"

namespace vg {

// What a process's files said beyond its stat, kept while the process (pid, start time, comm)
// lives: owner, NSpid and argv (Detail::kBasic), and cwd and the instance tag (kFull).
struct ProcfsSource::Known {
  std::uint64_t start_time = 0;
  std::string comm;
  Detail detail = Detail::kTree;
  uid_t uid = 0;
  std::string user;
  std::vector<pid_t> nspid;
  std::vector<std::string> argv;
  std::optional<std::string> cwd;
  std::optional<std::string> instance_tag;
};

class ProcfsSource::KnownTable {
 public:
  // Past this many, a Get that adds one starts the table afresh (a whole-table List keeps only
  // what it saw anyway): the memory stays bounded however many processes come and go.
  static constexpr std::size_t kMaxEntries = 1 << 16;

  // Fills the fields of `detail` beyond the stat into *info when pid was read before as the same
  // process (info's start time and comm, from the stat just read) at least in that detail.
  bool Fill(Detail detail, ProcessInfo* info) const {
    const auto it = map_.find(info->pid);
    if (it == map_.end()) return false;
    const Known& k = it->second;
    if (k.start_time != info->start_time || k.comm != info->comm ||
        static_cast<int>(k.detail) < static_cast<int>(detail)) {
      return false;
    }
    info->uid = k.uid;
    info->user = k.user;
    info->nspid = k.nspid;
    info->argv = k.argv;
    if (detail == Detail::kFull) {
      info->cwd = k.cwd;
      info->instance_tag = k.instance_tag;
    }
    return true;
  }

  void Keep(const ProcessInfo& info, Detail detail) {
    if (map_.size() >= kMaxEntries && !map_.contains(info.pid)) map_.clear();
    map_[info.pid] = KnownOf(info, detail);
  }

  // After a whole-table read: exactly the processes it saw.
  void Replace(const std::vector<ProcessInfo>& table, Detail detail) {
    std::unordered_map<pid_t, Known> next;
    next.reserve(table.size());
    for (const ProcessInfo& info : table) next.emplace(info.pid, KnownOf(info, detail));
    map_ = std::move(next);
  }

  std::size_t size() const { return map_.size(); }

 private:
  static Known KnownOf(const ProcessInfo& info, Detail detail) {
    return Known{.start_time = info.start_time,
                 .comm = info.comm,
                 .detail = detail,
                 .uid = info.uid,
                 .user = info.user,
                 .nspid = info.nspid,
                 .argv = info.argv,
                 .cwd = info.cwd,
                 .instance_tag = info.instance_tag};
  }

  std::unordered_map<pid_t, Known> map_;
};

namespace {

void SortUnique(std::vector<unsigned>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

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

// The largest record getdents64 writes: its header, a NAME_MAX name and the NUL, 8-byte aligned.
constexpr std::size_t kMaxDirentSize =
    (offsetof(struct dirent64, d_name) + NAME_MAX + 1 + 7) / 8 * 8;

// Calls f(name, d_type) for each entry of an open directory until f returns an errno value
// (non-zero), which ends the walk; getdents64 reads into buf. After each batch, last(bytes)
// may say that batch was the last, which saves the getdents64 call that would return 0.
// Returns 0, f's errno, or getdents64's.
template <class F, class Last>
int ForEachEntry(int dir_fd, std::span<char> buf, F&& f, Last&& last) {
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
      if (const int err = f(entry->d_name, entry->d_type)) return err;
    }
    if (last(static_cast<std::size_t>(n))) return 0;
  }
}

// The pids under an open proc root, sorted. One 64 KiB buffer: about 2,000 pids per getdents64
// call (an 8 KiB one needed 5 calls for 1,000 processes).
Result<std::vector<pid_t>> ListPids(int proc_fd, const std::string& proc_root) {
  std::vector<pid_t> pids;
  pids.reserve(1024);
  std::vector<char> buf(64 * 1024);
  const int err = ForEachEntry(
      proc_fd, buf,
      [&](const char* name, unsigned char type) {
        if (type != DT_DIR && type != DT_UNKNOWN) return 0;
        if (const pid_t pid = PidFromName(name); pid > 0) pids.push_back(pid);
        return 0;
      },
      [](std::size_t) { return false; });
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
    return ReadFd(fd.get(), short_read_is_eof);
  }

  // Reads an open file from its current offset to its end.
  int ReadFd(int fd, bool short_read_is_eof) {
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
      const ssize_t n = ::read(fd, data + len, want);
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
// `known` (may be null) holds what earlier calls read: a process found there as the same one
// costs its stat only.
int ReadProcess(int proc_fd, pid_t pid, Detail detail, ReadBuffer* buf, UserNames* users,
                const ProcfsSource::KnownTable* known, ProcessInfo* info) {
  std::array<char, 16> name;
  PidToName(pid, &name);
  // Everything is read relative to this directory: if the pid is recycled meanwhile, the reads
  // fail (ESRCH/ENOENT) instead of mixing two processes.
  UniqueFd dir(::openat(proc_fd, name.data(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) return errno;

  if (const int err = buf->Read(dir.get(), "stat", true)) return err;
  std::optional<procfs::StatFields> stat = procfs::ParseStat(buf->view());
  if (!stat) return EINVAL;
  FillFromStat(pid, std::move(*stat), info);
  if (known != nullptr && known->Fill(detail, info)) return 0;

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

// "<pid>/<file>" for one process, built once per process.
class PidPathBuf {
 public:
  explicit PidPathBuf(pid_t pid) {
    auto [ptr, ec] = std::to_chars(buf_.data(), buf_.data() + 16, pid);
    (void)ec;
    *ptr++ = '/';
    prefix_ = static_cast<std::size_t>(ptr - buf_.data());
  }
  // The path of `file` (a short literal) under the process's directory.
  const char* operator()(std::string_view file) {
    std::memcpy(buf_.data() + prefix_, file.data(), file.size());
    buf_[prefix_ + file.size()] = '\0';
    return buf_.data();
  }

 private:
  std::array<char, 32> buf_;
  std::size_t prefix_ = 0;
};

// What one chunk of processes yields: table rows and device-node holders, both sorted by pid.
struct TreeChunk {
  std::vector<ProcessInfo> table;
  HolderScan holders;
};

// What a TreeReader reads of each process.
enum class TreeMode {
  kTable,        // its row (stat and owner: Detail::kTree)
  kAll,          // its row, then its fds: ListWithHolders(TableRows::kAll)
  kHoldersFirst  // its fds; a row only for holders and processes whose fds cannot be read
};

// Reads processes' table rows and which GPU device nodes they have open (every fd link) and map
// (maps, for those with one open): the one pass of List(kTree), ScanDeviceHolders and
// ListWithHolders. Holds the buffers one chunk reuses.
class TreeReader {
 public:
  // short_batch_ends: proc_fd is procfs and signals are blocked (see WalkFds).
  TreeReader(int proc_fd, const std::string& device_dir, TreeMode mode, bool short_batch_ends)
      : proc_fd_(proc_fd),
        device_dir_(device_dir),
        node_prefix_((device_dir == "/" ? std::string() : device_dir) + "/nvidia"),
        mode_(mode),
        short_batch_ends_(short_batch_ends) {}

  // Appends pid's row (when the mode gives it one) to out->table, and its holder to
  // out->holders when it has a node open. Returns 0, or the errno that stopped it: the process
  // is then left out (SkipProcess), or the whole call fails. Fds that cannot be read keep the row
  // and count the process unreadable.
  int Read(pid_t pid, TreeChunk* out) {
    return mode_ == TreeMode::kHoldersFirst ? ReadFdsFirst(pid, out) : ReadStatFirst(pid, out);
  }

 private:
  // Stat first, then (kAll) the fds: every process gets its row, and kernel threads and zombies
  // (which hold no fds) are not walked.
  int ReadStatFirst(pid_t pid, TreeChunk* out) {
    PidPathBuf path(pid);
    // stat_fd stays open until the holder check below, and is what the row is read from.
    UniqueFd stat_fd(::openat(proc_fd_, path("stat"), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!stat_fd.ok()) return CountHidden(errno, out);
    if (const int err = buf_.ReadFd(stat_fd.get(), true)) return CountHidden(err, out);
    std::optional<procfs::StatFields> stat = procfs::ParseStat(buf_.view());
    if (!stat) return EINVAL;
    const bool kthread = stat->IsKernelThread();
    const std::uint64_t start_time = stat->start_time;
    ProcessInfo info;
    FillFromStat(pid, std::move(*stat), &info);
    // Kernel threads have no file table; an exited process (zombie) has closed its files: their
    // fd directories are empty, so they are not opened at all.
    const bool walk = mode_ == TreeMode::kAll && !kthread && !info.IsZombie();

    DeviceHolder holder;
    holder.pid = pid;
    int fds_err = 0;  // why the fd directory could not be read (0: it was, or was not needed)
    if (kthread) {
      // The kernel gives kernel threads' /proc files to root (task_dump_owner): no fstat needed.
      info.uid = 0;
    } else {
      UniqueFd fds;
      if (walk) {
        fds.Reset(::openat(proc_fd_, path("fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fds.ok()) fds_err = errno;
      }
      // The owner /proc shows (the effective uid; root for processes that are not dumpable),
      // from the fd directory when it is open (Linux >= 6.2 also gives its number of open fds
      // there, which WalkFds uses), else from stat.
      struct stat st {};
      if (::fstat(fds.ok() ? fds.get() : stat_fd.get(), &st) != 0) return errno;
      info.uid = st.st_uid;
      if (fds.ok()) {
        fds_err =
            WalkFds(fds.get(), static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0)), &holder);
      }
    }
    info.user = users_.For(info.uid);
    if (!walk) {
      out->table.push_back(std::move(info));
      return 0;
    }
    if (fds_err == EACCES || fds_err == EPERM) {
      // Another user's process, or one the kernel's ptrace check hides even from root (more
      // privileged than us): its row, not its fds.
      ++out->holders.unreadable;
      out->table.push_back(std::move(info));
      return 0;
    }
    // Vanished: exited after its stat was read (or, in fixture trees, no fd directory).
    if (fds_err != 0) return fds_err;
    if (holder.open_minors.empty() && !holder.opens_ctl) {
      out->table.push_back(std::move(info));
      return 0;
    }
    SortUnique(&holder.open_minors);

    // Only holders get their maps read: a mapped nvidia<N> is a CUDA context.
    const int maps_err = ReadHolderMaps(proc_fd_, path("maps"), &holder);
    if (Vanished(maps_err)) return maps_err;

    // Why the row and the holder describe one process although the fd directory and maps were
    // opened by number, after stat: stat_fd was opened first and is bound to the process P that
    // had the pid then (a /proc file keeps its process's struct pid, which the kernel never gives
    // to another process even when it reuses the number), and reading it fails (ESRCH) once P
    // has exited. A pid names one process at a time and P keeps it until it is reaped; so if
    // stat_fd still reads P now, after "fd" and "maps" were opened, those were P's too. If P
    // exited in between they may belong to a new process that reuses the number: the process is
    // left out as vanished, never shown holding another process's device nodes. (The start time
    // is compared as well, which also covers fixture trees.) Only holders pay this read: for the
    // others nothing from the fd directory reaches the result.
    if (const ssize_t again = ::pread(stat_fd.get(), check_.data(), check_.size(), 0); again <= 0) {
      return again == 0 ? ESRCH : errno;
    } else {
      const std::optional<procfs::StatFields> now =
          procfs::ParseStat(std::string_view(check_.data(), static_cast<std::size_t>(again)));
      if (!now || now->start_time != start_time) return ESRCH;
    }
    if (maps_err != 0) ++out->holders.unreadable;  // holder kept; what it maps is unknown
    out->table.push_back(std::move(info));
    out->holders.holders.push_back(std::move(holder));
    return 0;
  }

  // A holder's mapped nodes from its maps (relative to dir_fd). Returns ReadMaps' errno: a
  // vanished process is left out; any other failure keeps the holder, its mappings unknown.
  int ReadHolderMaps(int dir_fd, const char* rel, DeviceHolder* holder) {
    std::string_view maps;
    const int err = ReadMaps(dir_fd, rel, &maps);
    if (err == 0) holder->mapped_minors = procfs::ParseMappedMinors(maps, device_dir_);
    return err;
  }

  // The fds first; the stat of holders only (and of processes whose fds cannot be read).
  int ReadFdsFirst(pid_t pid, TreeChunk* out) {
    PidPathBuf path(pid);
    UniqueFd fds(::openat(proc_fd_, path("fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int err = fds.ok() ? 0 : errno;
    struct stat st {};  // the owner, and (Linux >= 6.2) the number of open fds for WalkFds
    if (err == 0 && ::fstat(fds.get(), &st) != 0) err = errno;
    DeviceHolder holder;
    holder.pid = pid;
    if (err == 0) {
      err = WalkFds(fds.get(), static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0)), &holder);
    }
    if (err == EACCES || err == EPERM) return ReadUnreadable(pid, out);
    if (err != 0) return err;  // vanished (or, in fixture trees, no fd directory)
    if (holder.open_minors.empty() && !holder.opens_ctl) return 0;  // no row: not needed
    SortUnique(&holder.open_minors);

    // A holder. Its stat and maps are opened through "<pid>/fd/..": that is the directory of the
    // process whose fds were just read (the fd directory keeps its parent, and with it that
    // process's struct pid), not of whichever process has the pid now. Once that process has
    // exited, both opens fail (ESRCH) even if its pid was reused, so a row or a mapping of
    // another process can never join these nodes; the process is then left out as vanished.
    UniqueFd stat_fd;
    ProcessInfo info;
    bool kthread = false;  // never, for a process with fds
    err = ReadStat(fds.get(), "../stat", pid, &stat_fd, &info, &kthread);
    if (err != 0) return err;
    info.uid = st.st_uid;
    info.user = users_.For(info.uid);
    const int maps_err = ReadHolderMaps(fds.get(), "../maps", &holder);
    if (Vanished(maps_err)) return maps_err;
    if (maps_err != 0) ++out->holders.unreadable;  // holder kept; what it maps is unknown
    out->table.push_back(std::move(info));
    out->holders.holders.push_back(std::move(holder));
    return 0;
  }

  // A process whose fds cannot be read (another user's, or more privileged than us): its row,
  // from its stat alone, so the view can tell it is alive; counted unreadable unless it is a
  // kernel thread (root's fd directory, nothing in it).
  int ReadUnreadable(pid_t pid, TreeChunk* out) {
    PidPathBuf path(pid);
    UniqueFd stat_fd;
    ProcessInfo info;
    bool kthread = false;
    if (const int err = ReadStat(proc_fd_, path("stat"), pid, &stat_fd, &info, &kthread)) {
      return CountHidden(err, out);
    }
    if (kthread) {
      info.uid = 0;
    } else {
      struct stat st {};
      if (::fstat(stat_fd.get(), &st) != 0) return errno;
      info.uid = st.st_uid;
      ++out->holders.unreadable;
    }
    info.user = users_.For(info.uid);
    out->table.push_back(std::move(info));
    return 0;
  }

  // Opens and reads <dir_fd>/<path> (a stat file) into *info (without the owner); keeps the
  // descriptor in *stat_fd.
  int ReadStat(int dir_fd, const char* path, pid_t pid, UniqueFd* stat_fd, ProcessInfo* info,
               bool* kthread) {
    stat_fd->Reset(::openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!stat_fd->ok()) return errno;
    if (const int err = buf_.ReadFd(stat_fd->get(), true)) return err;
    std::optional<procfs::StatFields> stat = procfs::ParseStat(buf_.view());
    if (!stat) return EINVAL;
    *kthread = stat->IsKernelThread();
    FillFromStat(pid, std::move(*stat), info);
    return 0;
  }

  // A stat that could not be read: hidden from us (hidepid) counts as unreadable for the scan.
  int CountHidden(int err, TreeChunk* out) const {
    if (mode_ != TreeMode::kTable && (err == EACCES || err == EPERM)) ++out->holders.unreadable;
    return err;
  }

  // Reads the links of an open fd directory into *holder. Returns 0 or an errno value: EACCES
  // when the links cannot be read although the directory could be listed (the kernel's ptrace
  // check: a more privileged process, even for root), after the first such link.
  //
  // One getdents64 call per process instead of two where it is safe to stop early: procfs fills
  // the buffer until an entry does not fit or the fds end, so a batch that left room for the
  // largest entry was the last one. Two things can cut a batch short: a pending signal, which
  // ReadTable rules out by blocking signals while it reads, and (cannot be blocked) SIGSTOP or
  // the freezer; against those the walk also waits until it has seen `open_fds` links, the
  // count fstat gives since Linux 6.2 (0 before: then the blocked signals alone decide). Fixture
  // trees are not procfs: always read to the end.
  int WalkFds(int fds_fd, std::uint64_t open_fds, DeviceHolder* holder) {
    std::uint64_t seen = 0;
    return ForEachEntry(
        fds_fd, dents_,
        [&](const char* entry, unsigned char) {
          if (entry[0] == '.') return 0;
          ++seen;
          const ssize_t n = ::readlinkat(fds_fd, entry, link_.data(), link_.size());
          if (n < 0 && (errno == EACCES || errno == EPERM)) return errno;
          if (n <= 0 || static_cast<std::size_t>(n) >= link_.size()) return 0;  // closed meanwhile
          const std::string_view target(link_.data(), static_cast<std::size_t>(n));
          // Cheap filter on each link before parsing it: "<device_dir>/nvidia".
          if (!target.starts_with(node_prefix_)) return 0;
          if (const auto minor = procfs::ParseDeviceMinor(target, device_dir_)) {
            holder->open_minors.push_back(*minor);
          } else if (procfs::IsCtlNode(target, device_dir_)) {
            holder->opens_ctl = true;
          }
          return 0;
        },
        [&](std::size_t bytes) {
          return short_batch_ends_ && dents_.size() - bytes >= kMaxDirentSize && seen >= open_fds;
        });
  }

  // Reads a maps file whole (they run to megabytes; no short-read shortcut) into *text.
  int ReadMaps(int dir_fd, const char* path, std::string_view* text) {
    UniqueFd fd(::openat(dir_fd, path, O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) return errno;
    std::size_t len = 0;
    for (;;) {
      if (maps_.size() - len < 4096) maps_.resize(std::max<std::size_t>(maps_.size() * 2, 65536));
      const ssize_t n = ::read(fd.get(), maps_.data() + len, maps_.size() - len);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) break;
      len += static_cast<std::size_t>(n);
    }
    *text = std::string_view(maps_.data(), len);
    return 0;
  }

  int proc_fd_;
  const std::string& device_dir_;
  std::string node_prefix_;
  TreeMode mode_;
  bool short_batch_ends_;
  ReadBuffer buf_;
  UserNames users_;
  std::string maps_;
  std::array<char, PATH_MAX> link_;
  std::array<char, 1024> check_;
  alignas(alignof(struct dirent64)) std::array<char, 8192> dents_;
};

std::string Canonical(const std::string& dir) {
  std::unique_ptr<char, decltype(&::free)> resolved(::realpath(dir.c_str(), nullptr), &::free);
  std::string out = resolved ? std::string(resolved.get()) : dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string PidPath(const std::string& proc_root, pid_t pid, const char* file) {
  return proc_root + "/" + std::to_string(pid) + "/" + file;
}

// Reading procfs is kernel-bound (~12 µs per process for stat + status + cmdline on a VM, ~10 µs
// for an fd walk), and different processes' files render in parallel. Tables are split into
// contiguous chunks read by up to kMaxThreads threads, all joined before the call returns. A
// thread costs ~50 µs to start and join, a chunk of kMinPidsPerThread processes ~1 ms to read:
// from about 130 processes on (any desktop), `ps` uses two cores.
constexpr std::size_t kMaxThreads = 8;
constexpr std::size_t kMinPidsPerThread = 64;

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

// Blocks every signal on the calling thread while it lives; they are delivered afterwards.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    ::sigfillset(&all);
    ok_ = ::pthread_sigmask(SIG_SETMASK, &all, &saved_) == 0;
  }
  ~SignalsBlocked() {
    if (ok_) ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;
  bool ok() const { return ok_; }

 private:
  sigset_t saved_;
  bool ok_ = false;
};

// The table and holders under proc_root, as `mode` reads them: see TreeReader.
Result<TableAndHolders> ReadTable(const std::string& proc_root, const std::string& device_dir,
                                  TreeMode mode) {
  UniqueFd proc(::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root, errno));
  Result<std::vector<pid_t>> pids = ListPids(proc.get(), proc_root);
  if (!pids) return std::unexpected(std::move(pids.error()));

  // While the fds are walked no signal may cut a getdents64 batch short (TreeReader::WalkFds);
  // worker threads start with every signal blocked, the caller's are blocked here meanwhile.
  struct statfs fs {};
  const bool procfs =
      mode != TreeMode::kTable && ::fstatfs(proc.get(), &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
  std::optional<SignalsBlocked> blocked;
  if (procfs) blocked.emplace();
  const bool masked = blocked && blocked->ok();
  auto read_chunk = [&](std::span<const pid_t> chunk) -> Result<TreeChunk> {
    TreeChunk out;
    out.table.reserve(chunk.size());
    TreeReader reader(proc.get(), device_dir, mode, masked);
    for (const pid_t pid : chunk) {
      const int err = reader.Read(pid, &out);
      if (err == 0 || SkipProcess(err)) continue;
      // Out of descriptors or memory: a partial table or holder list could mislead a reaper.
      return std::unexpected(ErrnoError("cannot read " + PidPath(proc_root, pid, ""), err));
    }
    return out;
  };
  std::vector<Result<TreeChunk>> chunks = ReadInChunks<Result<TreeChunk>>(*pids, read_chunk);
  blocked.reset();
  TableAndHolders all;
  all.table.reserve(pids->size());
  for (Result<TreeChunk>& chunk : chunks) {
    if (!chunk) return std::unexpected(std::move(chunk.error()));
    std::move(chunk->table.begin(), chunk->table.end(), std::back_inserter(all.table));
    std::move(chunk->holders.holders.begin(), chunk->holders.holders.end(),
              std::back_inserter(all.holders.holders));
    all.holders.unreadable += chunk->holders.unreadable;
  }
  return all;
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
    : proc_root_(std::move(proc_root)),
      device_dir_(Canonical(device_dir)),
      known_(std::make_unique<KnownTable>()) {}

ProcfsSource::~ProcfsSource() = default;
ProcfsSource::ProcfsSource(ProcfsSource&&) noexcept = default;
ProcfsSource& ProcfsSource::operator=(ProcfsSource&&) noexcept = default;

std::size_t ProcfsSource::KnownProcesses() const { return known_ ? known_->size() : 0; }

Result<std::vector<ProcessInfo>> ProcfsSource::List(Detail detail) {
  if (detail == Detail::kTree) {
    Result<TableAndHolders> all = ReadTable(proc_root_, device_dir_, TreeMode::kTable);
    if (!all) return std::unexpected(std::move(all.error()));
    return std::move(all->table);
  }
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
      // Chunks read concurrently; the table is only read until every chunk is back.
      const int err = ReadProcess(proc.get(), pid, detail, &buf, &users, known_.get(), &info);
      if (err == 0) continue;
      out.pop_back();
      if (SkipProcess(err)) continue;
      return std::unexpected(ErrnoError("cannot read " + PidPath(proc_root_, pid, ""), err));
    }
    return out;
  };
  std::vector<Result<std::vector<ProcessInfo>>> chunks =
      ReadInChunks<Result<std::vector<ProcessInfo>>>(*pids, read_chunk);
  std::vector<ProcessInfo> out;
  if (chunks.size() == 1) {
    if (!chunks.front()) return std::move(chunks.front());
    out = std::move(*chunks.front());
  } else {
    out.reserve(pids->size());
    for (Result<std::vector<ProcessInfo>>& chunk : chunks) {
      if (!chunk) return std::unexpected(std::move(chunk.error()));
      std::move(chunk->begin(), chunk->end(), std::back_inserter(out));
    }
  }
  if (known_) known_->Replace(out, detail);
  return out;
}

Result<ProcessInfo> ProcfsSource::Get(pid_t pid) {
  if (pid <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
  UniqueFd proc(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root_, errno));
  ReadBuffer buf;
  UserNames users;
  ProcessInfo info;
  const int err = ReadProcess(proc.get(), pid, Detail::kFull, &buf, &users, known_.get(), &info);
  if (err == 0) {
    if (known_) known_->Keep(info, Detail::kFull);
    return info;
  }
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
  Result<TableAndHolders> all = ReadTable(proc_root_, device_dir_, TreeMode::kHoldersFirst);
  if (!all) return std::unexpected(std::move(all.error()));
  return std::move(all->holders);
}

Result<std::optional<DeviceHolder>> ProcfsSource::HolderOf(pid_t pid) {
  if (pid <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
  UniqueFd proc(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) return std::unexpected(ErrnoError("cannot open " + proc_root_, errno));
  TreeReader reader(proc.get(), device_dir_, TreeMode::kHoldersFirst,
                    /*short_batch_ends=*/false);
  TreeChunk out;
  const int err = reader.Read(pid, &out);
  if (Vanished(err)) {
    return Fail(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
  }
  if (err != 0)
    return std::unexpected(ErrnoError("cannot read " + PidPath(proc_root_, pid, ""), err));
  if (out.holders.holders.empty()) return std::nullopt;
  return std::move(out.holders.holders.front());
}

Result<TableAndHolders> ProcfsSource::ListWithHolders(TableRows rows) {
  return ReadTable(proc_root_, device_dir_,
                   rows == TableRows::kAll ? TreeMode::kAll : TreeMode::kHoldersFirst);
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
  alignas(alignof(struct dirent64)) std::array<char, 4096> dents;
  const int err = ForEachEntry(
      tasks.get(), dents,
      [&](const char* name, unsigned char) {
        const pid_t tid = PidFromName(name);
        if (tid <= 0) return 0;
        ++threads;
        std::array<char, 32> path;
        std::snprintf(path.data(), path.size(), "%d/children", static_cast<int>(tid));
        const int e = buf.Read(tasks.get(), path.data(), false);
        if (e == 0) {
          procfs::ParsePidList(buf.view(), &out);
        } else if (e == ENOENT) {
          ++missing;
        }
        return 0;
      },
      [](std::size_t) { return false; });
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
