#include "proc/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <utility>

namespace vg {
namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr std::string_view kGroupPrefix = "vramguard-";

bool IsCgroup2(const std::string& dir) {
  struct statfs fs;
  return ::statfs(dir.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2SuperMagic;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Reads a whole (small) file; errno value on failure.
std::expected<std::string, int> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return std::unexpected(err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// Writes text to a cgroupfs control file in one write(); 0 or an errno value.
int WriteControl(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;
  ::close(fd);
  return err;
}

// Subdirectories (child groups) of dir, by name.
std::vector<std::string> ChildGroups(const std::string& dir) {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (!d) return out;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string_view name(e->d_name);
    if (name == "." || name == ".." || e->d_type != DT_DIR) continue;
    out.emplace_back(name);
  }
  return out;
}

Result<void> CollectMembers(const std::string& dir, std::vector<pid_t>* out) {
  auto text = ReadSmallFile(dir + "/cgroup.procs");
  if (!text)
    return std::unexpected(ErrnoError("cannot read " + dir + "/cgroup.procs", text.error()));
  std::string_view rest(*text);
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    pid_t pid = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && pid > 0) out->push_back(pid);
  }
  for (const std::string& child : ChildGroups(dir)) {
    auto r = CollectMembers(dir + "/" + child, out);
    // A child group removed while we walk is simply empty.
    if (!r && r.error().code != ErrorCode::kNotFound) return r;
  }
  return {};
}

Result<void> CheckWritable(const std::string& dir) {
  for (const std::string& path : {dir, dir + "/cgroup.procs"}) {
    if (::access(path.c_str(), W_OK) != 0) {
      const int err = errno;
      Error e = ErrnoError("cgroup " + dir + " is not writable: " + path, err);
      e.code = ErrorCode::kPermissionDenied;
      e.hint = "delegate a cgroup to vramguard (systemd: Delegate=yes); services run without one";
      return std::unexpected(e);
    }
  }
  return {};
}

}  // namespace

Result<std::string> FindCgroup2Mount(const std::string& root) {
  if (IsCgroup2(root)) return root;
  if (const std::string unified = root + "/unified"; IsCgroup2(unified)) return unified;
  return Fail(ErrorCode::kNotFound, "cgroup v2 is not mounted at " + root,
              "services run without their own cgroups; their trees are tracked through the "
              "process table and the instance tag");
}

std::optional<std::string> ParseCgroup2Path(std::string_view text) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.starts_with("0::")) return std::string(line.substr(3));
  }
  return std::nullopt;
}

Result<CgroupManager> CgroupManager::Detect(const std::string& root) {
  auto mount = FindCgroup2Mount(root);
  if (!mount) return std::unexpected(mount.error());
  auto self = ReadSmallFile("/proc/self/cgroup");
  if (!self) return std::unexpected(ErrnoError("cannot read /proc/self/cgroup", self.error()));
  const std::optional<std::string> own = ParseCgroup2Path(*self);
  if (!own) {
    return Fail(ErrorCode::kNotFound, "this process is in no cgroup v2 group",
                "services run without their own cgroups");
  }
  if (*own == "/") {
    return Fail(ErrorCode::kPermissionDenied,
                "vramguard runs in the root of the cgroup v2 hierarchy, whose top level belongs "
                "to the init system",
                "run the daemon in a cgroup of its own (systemd: Delegate=yes); services run "
                "without cgroups meanwhile");
  }
  const std::string base = *mount + *own;
  if (!Exists(base)) {
    return Fail(ErrorCode::kNotFound,
                "this process's cgroup " + *own + " is not visible under " + *mount,
                "the cgroup filesystem belongs to another cgroup namespace; services run "
                "without cgroups");
  }
  if (auto w = CheckWritable(base); !w) return std::unexpected(w.error());
  return CgroupManager(base);
}

Result<CgroupManager> CgroupManager::AtBase(std::string base) {
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (!IsCgroup2(base)) {
    return Fail(ErrorCode::kNotFound, base + " is not a cgroup v2 directory");
  }
  if (auto w = CheckWritable(base); !w) return std::unexpected(w.error());
  return CgroupManager(std::move(base));
}

Result<std::string> CgroupManager::Create(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument, "invalid cgroup name '" + name + "'");
  }
  std::string path = base_ + "/" + std::string(kGroupPrefix) + name;
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return std::unexpected(ErrnoError("cannot create cgroup " + path, errno));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(ErrorCode::kIo, "cgroup " + path + " exists but is not a directory");
  }
  return path;
}

Result<std::vector<pid_t>> CgroupManager::Members(const std::string& cgroup) const {
  std::vector<pid_t> pids;
  if (auto r = CollectMembers(cgroup, &pids); !r) return std::unexpected(r.error());
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

Result<void> CgroupManager::KillAll(const std::string& cgroup) const {
  if (!Exists(cgroup)) return {};
  const std::string kill_file = cgroup + "/cgroup.kill";
  if (Exists(kill_file)) {
    const int err = WriteControl(kill_file, "1");
    if (err == 0 || err == ENOENT) return {};
    return std::unexpected(ErrnoError("cannot write " + kill_file, err));
  }
  // Older kernels: freeze so nothing forks while we list and kill, then thaw so the killed
  // processes can run their exit.
  const std::string freeze_file = cgroup + "/cgroup.freeze";
  const bool frozen = Exists(freeze_file) && WriteControl(freeze_file, "1") == 0;
  auto members = Members(cgroup);
  Result<void> result;
  if (!members) {
    result = std::unexpected(members.error());
  } else {
    for (pid_t pid : *members) {
      if (::kill(pid, SIGKILL) != 0 && errno != ESRCH) {
        result = std::unexpected(ErrnoError("cannot kill pid " + std::to_string(pid), errno));
      }
    }
  }
  if (frozen) WriteControl(freeze_file, "0");
  return result;
}

Result<void> CgroupManager::Remove(const std::string& cgroup) const {
  for (const std::string& child : ChildGroups(cgroup)) {
    if (auto r = Remove(cgroup + "/" + child); !r) return r;
  }
  if (::rmdir(cgroup.c_str()) == 0 || errno == ENOENT) return {};
  if (errno == EBUSY) {
    return Fail(ErrorCode::kRefused, "cgroup " + cgroup + " still has processes",
                "kill its members and wait for them to exit first");
  }
  return std::unexpected(ErrnoError("cannot remove cgroup " + cgroup, errno));
}

}  // namespace vg
