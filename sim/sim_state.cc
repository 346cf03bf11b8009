#include "sim_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

namespace vg::sim {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDeviceFile = "device.json";
constexpr const char* kAllocLockFile = "alloc.lock";
constexpr const char* kTempPrefix = ".new.";

// Closes a descriptor on scope exit.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Error FsError(const std::string& what, const std::error_code& ec) {
  return ErrnoError(what, ec.value());
}

// Parses "123", "123\n", "123 " (leading decimal digits up to whitespace or the end).
std::optional<std::uint64_t> ParseDecimal(std::string_view text) {
  std::size_t end = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == 0) return std::nullopt;
  std::uint64_t value = 0;
  // NOLINTNEXTLINE(bugprone-suspicious-stringview-data-usage): from_chars takes [first, last)
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc()) return std::nullopt;
  (void)ptr;
  return value;
}

std::optional<unsigned> ParseIndexSuffix(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  if (name.empty() || name.size() > 9) return std::nullopt;
  for (char c : name)
    if (c < '0' || c > '9') return std::nullopt;
  auto value = ParseDecimal(name);
  if (!value) return std::nullopt;
  return static_cast<unsigned>(*value);
}

Result<std::string> ReadFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open " + path.string(), errno));
  FdGuard guard(fd);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(ErrnoError("cannot read " + path.string(), errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Writes `path` through a temporary file and rename(), so readers see the old or the new file.
Result<void> WriteFileAtomic(const fs::path& path, std::string_view content, mode_t mode) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return std::unexpected(ErrnoError("cannot create " + tmp.string(), errno));
  bool ok = WriteAll(fd, content);
  int err = errno;
  ::fchmod(fd, mode);
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return std::unexpected(ErrnoError("cannot write " + tmp.string(), err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(ErrnoError("cannot rename " + tmp.string(), err));
  }
  return {};
}

Result<void> MakeDirs(const fs::path& path, std::optional<fs::perms> perms = std::nullopt) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return std::unexpected(FsError("cannot create " + path.string(), ec));
  if (perms) {
    fs::permissions(path, *perms, ec);  // best effort: another user may own it
  }
  return {};
}

// Opens (creating when missing) a device node stand-in and makes it kNodeSize bytes long.
// Returns the descriptor; `flags` decides inheritance and access.
Result<int> OpenNode(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CREAT, 0666);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open " + path.string(), errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size < static_cast<off_t>(kNodeSize)) {
    if (::ftruncate(fd, static_cast<off_t>(kNodeSize)) != 0) {
      int err = errno;
      ::close(fd);
      return std::unexpected(ErrnoError("cannot size " + path.string(), err));
    }
    ::fchmod(fd, 0666);
  }
  return fd;
}

Result<void> EnsureNode(const fs::path& path) {
  auto fd = OpenNode(path, O_RDWR | O_CLOEXEC);
  if (!fd) return std::unexpected(fd.error());
  ::close(*fd);
  return {};
}

// Reads "<decimal>\n" from a ctx file. Reads until two reads agree, so a rewrite in progress is
// never taken for a value (the writer writes the number and its newline, then truncates).
std::uint64_t ReadAllocated(int fd) {
  char prev[32];
  ssize_t prev_n = -1;
  for (int attempt = 0; attempt < 8; ++attempt) {
    char buf[32];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    if (n == prev_n && std::memcmp(buf, prev, static_cast<std::size_t>(n)) == 0) {
      return ParseDecimal(std::string_view(buf, static_cast<std::size_t>(n))).value_or(0);
    }
    std::memcpy(prev, buf, static_cast<std::size_t>(n));
    prev_n = n;
  }
  return ParseDecimal(
             std::string_view(prev, static_cast<std::size_t>(std::max<ssize_t>(prev_n, 0))))
      .value_or(0);
}

enum class ProbeState { kAlive, kDead, kGone };

struct Probe {
  ProbeState state = ProbeState::kGone;
  std::uint64_t allocated = 0;
};

// Tests one ctx file for liveness (see the header). Deletes it when dead, unless it was replaced
// by a new file of the same name in the meantime.
Result<Probe> ProbeContext(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return Probe{};
    return std::unexpected(ErrnoError("cannot open " + path.string(), errno));
  }
  FdGuard guard(fd);
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) return Probe{ProbeState::kAlive, ReadAllocated(fd)};
    return std::unexpected(ErrnoError("cannot lock " + path.string(), errno));
  }
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 &&
      by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino) {
    ::unlink(path.c_str());  // best effort: a sticky directory may refuse
  }
  return Probe{ProbeState::kDead, 0};
}

Result<std::uint64_t> GetU64(const nlohmann::json& j, const char* key, const fs::path& file) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                file.string() + ": \"" + key + "\" must be a non-negative integer",
                "recreate it with vg-simgpu create or fix the file");
  }
  return it->get<std::uint64_t>();
}

Result<std::string> GetString(const nlohmann::json& j, const char* key, const fs::path& file) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, file.string() + ": \"" + key + "\" must be a string",
                "recreate it with vg-simgpu create or fix the file");
  }
  return it->get<std::string>();
}

Result<DeviceConfig> ParseDevice(const std::string& text, unsigned index, const fs::path& file) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, file.string() + ": not a JSON object",
                "recreate it with vg-simgpu create or fix the file");
  }
  DeviceConfig d;
  d.index = index;
  d.minor = index;
  d.pci_bus_id = DefaultPciBusId(index);
  auto name = GetString(j, "name", file);
  if (!name) return std::unexpected(name.error());
  d.name = *name;
  auto uuid = GetString(j, "uuid", file);
  if (!uuid) return std::unexpected(uuid.error());
  d.uuid = *uuid;
  auto total = GetU64(j, "total_bytes", file);
  if (!total) return std::unexpected(total.error());
  d.total_bytes = *total;
  auto overhead = GetU64(j, "context_overhead_bytes", file);
  if (!overhead) return std::unexpected(overhead.error());
  d.context_overhead_bytes = *overhead;
  if (j.contains("reserved_bytes")) {
    auto v = GetU64(j, "reserved_bytes", file);
    if (!v) return std::unexpected(v.error());
    d.reserved_bytes = *v;
  }
  if (j.contains("utilization_gpu")) {
    auto v = GetU64(j, "utilization_gpu", file);
    if (!v) return std::unexpected(v.error());
    d.utilization_gpu = static_cast<unsigned>(std::min<std::uint64_t>(*v, 100));
  }
  if (j.contains("utilization_memory")) {
    auto v = GetU64(j, "utilization_memory", file);
    if (!v) return std::unexpected(v.error());
    d.utilization_memory = static_cast<unsigned>(std::min<std::uint64_t>(*v, 100));
  }
  if (j.contains("process_entry_stride")) {
    auto v = GetU64(j, "process_entry_stride", file);
    if (!v) return std::unexpected(v.error());
    if (*v != 16 && *v != 24 && *v != 32) {
      return Fail(ErrorCode::kInvalidArgument,
                  file.string() + ": \"process_entry_stride\" must be 16, 24 or 32");
    }
    d.process_entry_stride = static_cast<unsigned>(*v);
  }
  if (j.contains("unsupported")) {
    const auto& u = j["unsupported"];
    if (!u.is_array()) {
      return Fail(ErrorCode::kInvalidArgument,
                  file.string() + ": \"unsupported\" must be an array of NVML symbol names");
    }
    for (const auto& s : u) {
      if (!s.is_string()) {
        return Fail(ErrorCode::kInvalidArgument,
                    file.string() + ": \"unsupported\" must be an array of NVML symbol names");
      }
      d.unsupported.push_back(s.get<std::string>());
    }
  }
  if (j.contains("minor")) {
    auto v = GetU64(j, "minor", file);
    if (!v) return std::unexpected(v.error());
    d.minor = static_cast<unsigned>(*v);
  }
  if (j.contains("pci_bus_id")) {
    auto v = GetString(j, "pci_bus_id", file);
    if (!v) return std::unexpected(v.error());
    if (v->empty() || v->size() >= 32) {
      return Fail(
          ErrorCode::kInvalidArgument,
          file.string() + ": \"pci_bus_id\" must be a PCI address like \"00000000:3B:00.0\"");
    }
    d.pci_bus_id = *v;
  }
  return d;
}

std::string DeviceJson(const DeviceConfig& d) {
  nlohmann::json j = {
      {"name", d.name},
      {"uuid", d.uuid},
      {"total_bytes", d.total_bytes},
      {"context_overhead_bytes", d.context_overhead_bytes},
      {"reserved_bytes", d.reserved_bytes},
  };
  if (d.utilization_gpu) j["utilization_gpu"] = *d.utilization_gpu;
  if (d.utilization_memory != 0) j["utilization_memory"] = d.utilization_memory;
  if (d.process_entry_stride != kDefaultEntryStride) {
    j["process_entry_stride"] = d.process_entry_stride;
  }
  if (!d.unsupported.empty()) j["unsupported"] = d.unsupported;
  if (d.minor != d.index) j["minor"] = d.minor;
  if (!d.pci_bus_id.empty() && d.pci_bus_id != DefaultPciBusId(d.index))
    j["pci_bus_id"] = d.pci_bus_id;
  return j.dump(2) + "\n";
}

}  // namespace

std::string DefaultPciBusId(unsigned index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "00000000:%02X:00.0", (index + 1) & 0xff);
  return buf;
}

bool DeviceConfig::IsUnsupported(std::string_view symbol) const {
  return std::find(unsupported.begin(), unsupported.end(), symbol) != unsupported.end();
}

Result<fs::path> DirFromEnv() {
  const char* value = std::getenv(kDirEnvVar);
  if (value == nullptr || *value == '\0') {
    return Fail(ErrorCode::kNoDriver, std::string(kDirEnvVar) + " is not set",
                "set it to the directory given to vg-simgpu create, or pass --dir");
  }
  return fs::path(value);
}

std::string UuidFor(unsigned index) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "GPU-5a1e0000-0000-4000-8000-%012x", index);
  return buf;
}

fs::path GpuDir(const fs::path& dir, unsigned gpu) { return dir / ("gpu" + std::to_string(gpu)); }
fs::path CtxDir(const fs::path& dir, unsigned gpu) { return GpuDir(dir, gpu) / "ctx"; }
fs::path CtlNodePath(const fs::path& dir) { return dir / "dev" / "nvidiactl"; }
fs::path DeviceNodePath(const fs::path& dir, unsigned minor) {
  return dir / "dev" / ("nvidia" + std::to_string(minor));
}

Result<void> WriteDevice(const fs::path& dir, const DeviceConfig& config) {
  if (auto r = MakeDirs(dir / "dev"); !r) return r;
  if (auto r = EnsureNode(CtlNodePath(dir)); !r) return r;
  if (auto r = EnsureNode(DeviceNodePath(dir, config.minor)); !r) return r;
  // Any user may run simulated processes on the GPU (like /tmp: 1777).
  if (auto r = MakeDirs(CtxDir(dir, config.index), fs::perms::all | fs::perms::sticky_bit); !r) {
    return r;
  }
  // The allocation lock exists up front, writable by all, so other users' processes can take it.
  fs::path lock_path = GpuDir(dir, config.index) / kAllocLockFile;
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd < 0) return std::unexpected(ErrnoError("cannot create " + lock_path.string(), errno));
  ::fchmod(lock_fd, 0666);
  ::close(lock_fd);
  return WriteFileAtomic(GpuDir(dir, config.index) / kDeviceFile, DeviceJson(config), 0644);
}

Result<void> CreateGpus(const fs::path& dir, const CreateOptions& options) {
  if (options.total.count() == 0) {
    return Fail(ErrorCode::kInvalidArgument, "total memory must be more than 0");
  }
  if (options.reserved >= options.total) {
    return Fail(ErrorCode::kInvalidArgument, "reserved memory must be less than total memory");
  }
  if (auto r = MakeDirs(dir); !r) return r;
  for (unsigned i = 0; i < options.count; ++i) {
    DeviceConfig d;
    d.index = i;
    d.minor = i;
    d.name = options.name;
    d.uuid = UuidFor(i);
    d.total_bytes = options.total.count();
    d.context_overhead_bytes = options.overhead.count();
    d.reserved_bytes = options.reserved.count();
    if (auto r = WriteDevice(dir, d); !r) return r;
    auto live = ListLiveContexts(dir, i);  // deletes dead ctx files
    if (!live) return std::unexpected(live.error());
  }
  if (options.count == 0) {
    if (auto r = MakeDirs(dir / "dev"); !r) return r;
    if (auto r = EnsureNode(CtlNodePath(dir)); !r) return r;
  }
  // GPUs and nodes beyond the new count go away.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto n = ParseIndexSuffix(entry.path().filename().string(), "gpu");
    if (n && *n >= options.count) fs::remove_all(entry.path(), ec);
  }
  for (const auto& entry : fs::directory_iterator(dir / "dev", ec)) {
    auto n = ParseIndexSuffix(entry.path().filename().string(), "nvidia");
    if (n && *n >= options.count) fs::remove(entry.path(), ec);
  }
  return {};
}

Result<DeviceConfig> ReadDevice(const fs::path& dir, unsigned gpu) {
  fs::path file = GpuDir(dir, gpu) / kDeviceFile;
  auto text = ReadFile(file);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound,
                  "no simulated GPU " + std::to_string(gpu) + " in " + dir.string(),
                  "create it with vg-simgpu create --gpus N");
    }
    return std::unexpected(text.error());
  }
  return ParseDevice(*text, gpu, file);
}

Result<std::vector<DeviceConfig>> ReadDevices(const fs::path& dir) {
  std::vector<unsigned> indices;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return std::vector<DeviceConfig>{};
    return std::unexpected(ErrnoError("cannot read " + dir.string(), errno));
  }
  while (dirent* e = ::readdir(d)) {
    if (auto n = ParseIndexSuffix(e->d_name, "gpu")) indices.push_back(*n);
  }
  ::closedir(d);
  std::sort(indices.begin(), indices.end());
  std::vector<DeviceConfig> out;
  for (unsigned i : indices) {
    auto device = ReadDevice(dir, i);
    if (!device) {
      if (device.error().code == ErrorCode::kNotFound) continue;  // being created
      return std::unexpected(device.error());
    }
    out.push_back(std::move(*device));
  }
  return out;
}

Result<std::vector<LiveContext>> ListLiveContexts(const fs::path& dir, unsigned gpu) {
  fs::path ctx_dir = CtxDir(dir, gpu);
  std::vector<LiveContext> out;
  DIR* d = ::opendir(ctx_dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return std::unexpected(ErrnoError("cannot read " + ctx_dir.string(), errno));
  }
  std::vector<pid_t> pids;
  while (dirent* e = ::readdir(d)) {
    auto pid = ParseIndexSuffix(e->d_name, "");
    if (pid && *pid > 0) pids.push_back(static_cast<pid_t>(*pid));
  }
  ::closedir(d);
  std::sort(pids.begin(), pids.end());
  for (pid_t pid : pids) {
    auto probe = ProbeContext(ctx_dir / std::to_string(pid));
    if (!probe) return std::unexpected(probe.error());
    if (probe->state == ProbeState::kAlive) out.push_back({pid, probe->allocated});
  }
  return out;
}

Usage ComputeUsage(const DeviceConfig& device, const std::vector<LiveContext>& contexts) {
  Usage u;
  u.total_bytes = device.total_bytes;
  u.reserved_bytes = device.reserved_bytes;
  for (const auto& c : contexts) u.used_bytes += c.allocated_bytes + device.context_overhead_bytes;
  std::uint64_t usable =
      device.total_bytes > device.reserved_bytes ? device.total_bytes - device.reserved_bytes : 0;
  u.free_bytes = usable > u.used_bytes ? usable - u.used_bytes : 0;
  return u;
}

Result<Usage> DeviceUsage(const fs::path& dir, unsigned gpu) {
  auto device = ReadDevice(dir, gpu);
  if (!device) return std::unexpected(device.error());
  auto contexts = ListLiveContexts(dir, gpu);
  if (!contexts) return std::unexpected(contexts.error());
  return ComputeUsage(*device, *contexts);
}

// ---- SimContext ----

Result<SimContext> SimContext::Open(const fs::path& dir, unsigned gpu) {
  auto device = ReadDevice(dir, gpu);
  if (!device) return std::unexpected(device.error());
  SimContext c;
  c.dir_ = dir;
  c.gpu_ = gpu;
  c.owner_ = ::getpid();
  c.overhead_ = device->context_overhead_bytes;
  c.ctx_path_ = CtxDir(dir, gpu) / std::to_string(c.owner_);

  // Like the driver: the nodes stay open, inheritable by children and across exec.
  auto ctl = OpenNode(CtlNodePath(dir), O_RDWR);
  if (!ctl) return std::unexpected(ctl.error());
  c.ctl_fd_ = *ctl;
  fs::path node_path = DeviceNodePath(dir, device->minor);
  auto node = OpenNode(node_path, O_RDWR);
  if (!node) return std::unexpected(node.error());
  c.node_fd_ = *node;
  void* map = ::mmap(nullptr, kNodeSize, PROT_READ | PROT_WRITE, MAP_SHARED, c.node_fd_, 0);
  if (map == MAP_FAILED)
    return std::unexpected(ErrnoError("cannot map " + node_path.string(), errno));
  c.mapping_ = map;

  if (auto r = MakeDirs(CtxDir(dir, gpu)); !r) return std::unexpected(r.error());
  auto existing = ProbeContext(c.ctx_path_);
  if (!existing) return std::unexpected(existing.error());
  if (existing->state == ProbeState::kAlive) {
    return Fail(ErrorCode::kRefused,
                "process " + std::to_string(c.owner_) + " already holds a context on GPU " +
                    std::to_string(gpu),
                "one simulated context per process and GPU");
  }

  // Created under a temporary name and locked before it becomes visible, so no reader ever sees
  // an unlocked fresh context. Not O_CLOEXEC: children inherit it like the driver's descriptors.
  static unsigned sequence = 0;
  fs::path tmp = CtxDir(dir, gpu) / (std::string(kTempPrefix) + std::to_string(c.owner_) + "." +
                                     std::to_string(++sequence));
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return std::unexpected(ErrnoError("cannot create " + tmp.string(), errno));
  c.ctx_fd_ = fd;
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(ErrnoError("cannot lock " + tmp.string(), err));
  }
  if (auto r = c.Write(0); !r) {
    ::unlink(tmp.c_str());
    return std::unexpected(r.error());
  }
  if (::rename(tmp.c_str(), c.ctx_path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(ErrnoError("cannot rename " + tmp.string(), err));
  }
  return c;
}

SimContext::SimContext(SimContext&& other) noexcept { *this = std::move(other); }

SimContext& SimContext::operator=(SimContext&& other) noexcept {
  if (this != &other) {
    Close();
    dir_ = std::move(other.dir_);
    ctx_path_ = std::move(other.ctx_path_);
    gpu_ = other.gpu_;
    owner_ = other.owner_;
    ctl_fd_ = std::exchange(other.ctl_fd_, -1);
    node_fd_ = std::exchange(other.node_fd_, -1);
    ctx_fd_ = std::exchange(other.ctx_fd_, -1);
    mapping_ = std::exchange(other.mapping_, nullptr);
    allocated_ = other.allocated_;
    overhead_ = other.overhead_;
    last_oom_ = std::move(other.last_oom_);
  }
  return *this;
}

SimContext::~SimContext() { Close(); }

void SimContext::Close() {
  bool held = ctx_fd_ >= 0 || ctl_fd_ >= 0 || node_fd_ >= 0 || mapping_ != nullptr;
  if (held && ::getpid() == owner_) {
    if (mapping_ != nullptr) ::munmap(mapping_, kNodeSize);
    if (ctl_fd_ >= 0) ::close(ctl_fd_);
    if (node_fd_ >= 0) ::close(node_fd_);
    if (ctx_fd_ >= 0) {
      ::close(ctx_fd_);
      (void)ProbeContext(ctx_path_);  // deletes the file unless a forked child still holds it
    }
  }
  // In a forked child the descriptors and mapping stay: the child keeps holding the context.
  mapping_ = nullptr;
  ctl_fd_ = node_fd_ = ctx_fd_ = -1;
}

Result<void> SimContext::Write(std::uint64_t bytes) {
  // The number and its newline first, then the truncation: a reader never sees a wrong number.
  std::string text = std::to_string(bytes) + "\n";
  ssize_t n;
  do {
    n = ::pwrite(ctx_fd_, text.data(), text.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(text.size())) {
    return std::unexpected(ErrnoError("cannot write " + ctx_path_.string(), n < 0 ? errno : EIO));
  }
  if (::ftruncate(ctx_fd_, static_cast<off_t>(text.size())) != 0) {
    return std::unexpected(ErrnoError("cannot truncate " + ctx_path_.string(), errno));
  }
  allocated_ = bytes;
  return {};
}

Result<void> SimContext::Grow(std::uint64_t new_allocated) {
  if (ctx_fd_ < 0) return Fail(ErrorCode::kInternal, "the simulated context is closed");
  fs::path lock_path = GpuDir(dir_, gpu_) / kAllocLockFile;
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd < 0) return std::unexpected(ErrnoError("cannot open " + lock_path.string(), errno));
  FdGuard guard(lock_fd);
  ::fchmod(lock_fd, 0666);
  int rc;
  do {
    rc = ::flock(lock_fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return std::unexpected(ErrnoError("cannot lock " + lock_path.string(), errno));

  auto device = ReadDevice(dir_, gpu_);
  if (!device) return std::unexpected(device.error());
  auto contexts = ListLiveContexts(dir_, gpu_);
  if (!contexts) return std::unexpected(contexts.error());
  std::vector<LiveContext> others;
  for (const auto& c : *contexts) {
    if (c.pid != owner_) others.push_back(c);
  }
  Usage others_usage = ComputeUsage(*device, others);
  std::uint64_t self_now = allocated_ + overhead_;
  std::uint64_t self_new = new_allocated + overhead_;
  if (self_new > others_usage.free_bytes) {
    std::uint64_t free_now =
        others_usage.free_bytes > self_now ? others_usage.free_bytes - self_now : 0;
    std::uint64_t requested = new_allocated - allocated_;
    last_oom_ = OutOfMemory{gpu_, requested, device->total_bytes, free_now, self_now, others};
    return Fail(ErrorCode::kRefused,
                "CUDA out of memory: tried to allocate " + FormatBytes(Bytes(requested)) +
                    " on GPU " + std::to_string(gpu_) + " (" +
                    FormatBytes(Bytes(device->total_bytes)) + " total, " +
                    FormatBytes(Bytes(free_now)) + " free)",
                "free memory on the simulated GPU or allocate less");
  }
  return Write(new_allocated);
}

Result<void> SimContext::Allocate(Bytes bytes) { return Grow(allocated_ + bytes.count()); }

Result<void> SimContext::Free(Bytes bytes) {
  if (ctx_fd_ < 0) return Fail(ErrorCode::kInternal, "the simulated context is closed");
  return Write(allocated_ > bytes.count() ? allocated_ - bytes.count() : 0);
}

Result<void> SimContext::SetAllocated(Bytes bytes) {
  if (bytes.count() > allocated_) return Grow(bytes.count());
  if (ctx_fd_ < 0) return Fail(ErrorCode::kInternal, "the simulated context is closed");
  return Write(bytes.count());
}

}  // namespace vg::sim
