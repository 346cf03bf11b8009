#include "daemon/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace vg {

LogTail::LogTail(std::string path, Bytes max_size, int keep, std::size_t ring)
    : path_(std::move(path)), max_size_(max_size), keep_(keep), ring_(ring) {}

void LogTail::SkipToEnd() {
  struct stat st {};
  offset_ = ::stat(path_.c_str(), &st) == 0 ? st.st_size : 0;
}

std::vector<std::string> LogTail::Poll() {
  std::vector<std::string> lines;
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lines;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size < offset_) offset_ = 0;  // truncated under us
  char buf[65536];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset_);
    if (n <= 0) break;
    offset_ += n;
    for (std::string& l : splitter_.Feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
      lines.push_back(std::move(l));
    }
  }
  ::close(fd);
  for (const std::string& l : lines) {
    ring_.Push(l);
    // Copy: a listener may remove itself (or another) while being called.
    std::vector<Listener> now;
    for (auto& [id, f] : listeners_) now.push_back(f);
    for (auto& f : now) f(l);
  }
  if (max_size_.count() > 0 && static_cast<std::uint64_t>(offset_) >= max_size_.count()) Rotate();
  return lines;
}

void LogTail::Rotate() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (int i = keep_ - 1; i >= 1; --i) {
    fs::rename(path_ + "." + std::to_string(i), path_ + "." + std::to_string(i + 1), ec);
  }
  if (keep_ > 0) fs::copy_file(path_, path_ + ".1", fs::copy_options::overwrite_existing, ec);
  ::truncate(path_.c_str(), 0);
  offset_ = 0;
}

int LogTail::AddListener(Listener l) {
  int id = next_listener_++;
  listeners_.emplace(id, std::move(l));
  return id;
}

void LogTail::RemoveListener(int id) { listeners_.erase(id); }

}  // namespace vg
