#include "logs/kmsg.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

namespace vg {
namespace {

template <class T>
std::optional<T> Number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && HexDigit(s[i + 2]) >= 0 &&
        HexDigit(s[i + 3]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 2]) * 16 + HexDigit(s[i + 3])));
      i += 3;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string ReadSysctl(const char* path) {
  std::ifstream f(path);
  std::string v;
  std::getline(f, v);
  return v;
}

}  // namespace

std::optional<KmsgRecord> ParseKmsgRecord(std::string_view line) {
  std::size_t semi = line.find(';');
  if (semi == std::string_view::npos || semi > 128) return std::nullopt;
  std::string_view head = line.substr(0, semi);
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 5) {
    std::size_t comma = head.find(',', start);
    parts.push_back(head.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parts.size() < 4) return std::nullopt;
  auto prefix = Number<int>(parts[0]);
  auto seq = Number<std::uint64_t>(parts[1]);
  auto usec = Number<std::int64_t>(parts[2]);
  if (!prefix || *prefix < 0 || !seq || !usec) return std::nullopt;
  KmsgRecord r;
  r.level = *prefix & 7;
  r.facility = *prefix >> 3;
  r.seq = *seq;
  r.usec = *usec;
  r.message = Unescape(line.substr(semi + 1));
  return r;
}

std::vector<KmsgRecord> KmsgSplitter::Feed(std::string_view bytes) {
  std::vector<KmsgRecord> out;
  auto emit = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == ' ') return;  // a continuation (" KEY=value")
    if (auto r = ParseKmsgRecord(line)) {
      out.push_back(std::move(*r));
    } else {
      KmsgRecord plain;
      plain.message = std::string(line);
      out.push_back(std::move(plain));
    }
  };
  while (!bytes.empty()) {
    std::size_t nl = bytes.find('\n');
    std::string_view piece = bytes.substr(0, nl);
    if (partial_.size() < kMaxLine) partial_.append(piece.substr(0, kMaxLine - partial_.size()));
    if (nl == std::string_view::npos) break;
    emit(partial_);
    partial_.clear();
    bytes.remove_prefix(nl + 1);
  }
  return out;
}

Result<KernelLogFd> OpenKernelLog(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT) return Fail(ErrorCode::kNotFound, path + " does not exist");
    return Fail(e == EACCES || e == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                path + ": " + std::strerror(e));
  }
  KernelLogFd out;
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
  if (S_ISCHR(st.st_mode)) {
    out.type = KernelLogType::kDevice;
  } else if (S_ISFIFO(st.st_mode)) {
    out.type = KernelLogType::kFifo;
    flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;  // our own writer end: no EOF between writers
  } else if (S_ISREG(st.st_mode)) {
    out.type = KernelLogType::kFile;
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                path + " is not the kernel log (not a character device, FIFO or file)",
                "set [daemon] kernel_log to \"/dev/kmsg\", or \"\" to turn it off");
  }
  out.fd = ::open(path.c_str(), flags);
  if (out.fd < 0) {
    const int e = errno;
    if (e == EPERM || e == EACCES) {
      std::string why = path + ": " + std::strerror(e);
      if (path == "/dev/kmsg" && ::geteuid() != 0 &&
          ReadSysctl("/proc/sys/kernel/dmesg_restrict") == "1") {
        why = "not root and kernel.dmesg_restrict = 1";
      }
      return Fail(ErrorCode::kPermissionDenied, why,
                  "run the daemon as root or with CAP_SYSLOG, or set kernel.dmesg_restrict = 0");
    }
    if (e == ENOENT) return Fail(ErrorCode::kNotFound, path + " does not exist");
    return Fail(ErrorCode::kIo, path + ": " + std::strerror(e));
  }
  if (out.type != KernelLogType::kFifo && ::lseek(out.fd, 0, SEEK_END) < 0 &&
      out.type == KernelLogType::kFile) {
    const int e = errno;
    ::close(out.fd);
    return Fail(ErrorCode::kIo, path + ": cannot seek to its end: " + std::strerror(e));
  }
  return out;
}

}  // namespace vg
