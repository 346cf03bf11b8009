#include "logs/rotating_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

namespace vg {
namespace {

constexpr mode_t kLogMode = 0640;

int OpenForAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kLogMode);
}

}  // namespace

Result<RotatingFile> RotatingFile::Open(std::string path, Bytes max_size, int keep) {
  if (max_size.count() == 0) {
    return Fail(ErrorCode::kInvalidArgument, "log size limit for " + path + " must be above 0");
  }
  if (keep < 0) {
    return Fail(ErrorCode::kInvalidArgument, "log file count for " + path + " must be ≥ 0");
  }
  const int fd = OpenForAppend(path);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open log " + path, errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(ErrnoError("cannot stat log " + path, err));
  }
  return RotatingFile(std::move(path), max_size, keep, fd, static_cast<std::uint64_t>(st.st_size));
}

RotatingFile::RotatingFile(std::string path, Bytes max_size, int keep, int fd, std::uint64_t size)
    : path_(std::move(path)), max_size_(max_size.count()), keep_(keep), fd_(fd), size_(size) {}

RotatingFile::RotatingFile(RotatingFile&& o) noexcept
    : path_(std::move(o.path_)),
      max_size_(o.max_size_),
      keep_(o.keep_),
      fd_(std::exchange(o.fd_, -1)),
      size_(o.size_) {}

RotatingFile& RotatingFile::operator=(RotatingFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    max_size_ = o.max_size_;
    keep_ = o.keep_;
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
  }
  return *this;
}

RotatingFile::~RotatingFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> RotatingFile::Append(std::string_view bytes) {
  if (fd_ < 0) return Fail(ErrorCode::kIo, "log " + path_ + " is not open");
  while (!bytes.empty()) {
    if (size_ >= max_size_ || (size_ > 0 && size_ + bytes.size() > max_size_)) {
      if (auto r = Rotate(); !r) return r;
    }
    const std::size_t room =
        static_cast<std::size_t>(std::min<std::uint64_t>(max_size_ - size_, bytes.size()));
    if (auto r = WriteAll(bytes.substr(0, room)); !r) return r;
    bytes.remove_prefix(room);
  }
  return {};
}

Result<void> RotatingFile::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(ErrnoError("cannot write log " + path_, errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<void> RotatingFile::Rotate() {
  const auto numbered = [&](int i) { return path_ + "." + std::to_string(i); };
  if (keep_ == 0) {
    if (::ftruncate(fd_, 0) != 0) {
      return std::unexpected(ErrnoError("cannot truncate log " + path_, errno));
    }
    size_ = 0;
    return {};
  }
  if (::unlink(numbered(keep_).c_str()) != 0 && errno != ENOENT) {
    return std::unexpected(ErrnoError("cannot remove old log " + numbered(keep_), errno));
  }
  for (int i = keep_ - 1; i >= 1; --i) {
    if (std::rename(numbered(i).c_str(), numbered(i + 1).c_str()) != 0 && errno != ENOENT) {
      return std::unexpected(ErrnoError("cannot rotate log " + numbered(i), errno));
    }
  }
  if (std::rename(path_.c_str(), numbered(1).c_str()) != 0 && errno != ENOENT) {
    return std::unexpected(ErrnoError("cannot rotate log " + path_, errno));
  }
  const int fd = OpenForAppend(path_);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open log " + path_, errno));
  ::close(fd_);
  fd_ = fd;
  size_ = 0;
  return {};
}

}  // namespace vg
