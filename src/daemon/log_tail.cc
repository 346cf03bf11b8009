#include "daemon/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "util/pattern.h"

namespace vg {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

}  // namespace

LogTail::LogTail(std::string path, Bytes max_size, int keep, std::size_t ring)
    : path_(std::move(path)),
      max_size_(max_size),
      keep_(keep),
      // With its " [truncated]" mark a cut line is still at most kMaxMatchLineBytes.
      splitter_(kMaxMatchLineBytes - LineSplitter::kTruncatedMark.size()),
      ring_(ring) {}

void LogTail::SkipToEnd() {
  struct stat st {};
  offset_ = ::stat(path_.c_str(), &st) == 0 ? st.st_size : 0;
}

void LogTail::Deliver(std::string_view bytes, std::vector<std::string>& out) {
  for (std::string& l : splitter_.Feed(bytes)) {
    ring_.Push(l);
    // Copy: a listener may remove itself (or another) while being called.
    std::vector<Listener> now;
    now.reserve(listeners_.size());
    for (auto& [id, f] : listeners_) now.push_back(f);
    for (auto& f : now) f(l);
    out.push_back(std::move(l));
    // Only the last ring-capacity lines are returned: a burst must not grow the daemon.
    if (out.size() >= 2 * ring_.capacity()) {
      out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(ring_.capacity()));
    }
  }
}

std::vector<std::string> LogTail::Poll() {
  std::vector<std::string> lines;
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lines;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size < offset_) offset_ = 0;  // truncated under us
  std::vector<char> buf(kReadChunk);
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), offset_);
    if (n <= 0) break;
    offset_ += n;
    Deliver(std::string_view(buf.data(), static_cast<std::size_t>(n)), lines);
    // Rotate as soon as max_size was read, not after reading everything a fast writer appended.
    if (max_size_.count() > 0 && static_cast<std::uint64_t>(offset_) >= max_size_.count()) {
      Rotate(fd, lines);
    }
  }
  ::close(fd);
  if (lines.size() > ring_.capacity()) {
    lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(ring_.capacity()));
  }
  return lines;
}

void LogTail::Rotate(int fd, std::vector<std::string>& lines) {
  const std::uint64_t piece_size = max_size_.count();
  const auto numbered = [&](int i) { return path_ + "." + std::to_string(i); };
  const auto piece_path = [&](int j) { return path_ + ".rotating." + std::to_string(j); };
  // Copy the file in pieces of at most max_size (what a fast writer added since the last read
  // makes several); bytes not read yet are handed on from the copy, so no line is skipped.
  int pieces = 0;
  int out = -1;
  std::uint64_t in_piece = 0;
  std::uint64_t at = 0;
  std::vector<char> buf(kReadChunk);
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(at));
    if (n <= 0) break;
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    if (at + chunk.size() > static_cast<std::uint64_t>(offset_)) {
      const std::uint64_t unread_from =
          static_cast<std::uint64_t>(offset_) > at ? static_cast<std::uint64_t>(offset_) - at : 0;
      Deliver(chunk.substr(unread_from), lines);
    }
    at += chunk.size();
    // A piece ends at the first line end once it holds max_size bytes (at 2 × max_size for a
    // line without end), so a rotated file holds whole lines.
    while (keep_ > 0 && !chunk.empty()) {
      if (out < 0) {
        out = ::open(piece_path(++pieces).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        in_piece = 0;
      }
      std::size_t take;
      bool end_piece = false;
      if (in_piece < piece_size) {
        take =
            static_cast<std::size_t>(std::min<std::uint64_t>(piece_size - in_piece, chunk.size()));
      } else {
        const std::size_t limit = static_cast<std::size_t>(
            std::min<std::uint64_t>(2 * piece_size - in_piece, chunk.size()));
        const std::size_t nl = chunk.substr(0, limit).find('\n');
        take = nl == std::string_view::npos ? limit : nl + 1;
        end_piece = nl != std::string_view::npos || in_piece + take >= 2 * piece_size;
      }
      if (out >= 0) WriteAll(out, chunk.substr(0, take));
      in_piece += take;
      chunk.remove_prefix(take);
      if (end_piece) {
        if (out >= 0) ::close(out);
        out = -1;
      }
    }
  }
  // The window in which a line can be lost: between the last read above and this truncation.
  if (::truncate(path_.c_str(), 0) != 0) {
    // Nothing to do but read on: the copies are kept and the file rotates at the next poll.
  }
  if (out >= 0) ::close(out);
  offset_ = 0;
  // Shift the history by `pieces`, dropping what falls past `keep`; the newest piece is .1.
  for (int i = keep_; i >= 1; --i) {
    if (i + pieces <= keep_) {
      std::rename(numbered(i).c_str(), numbered(i + pieces).c_str());
    } else {
      ::unlink(numbered(i).c_str());
    }
  }
  for (int j = 1; j <= pieces; ++j) {
    const int index = pieces - j + 1;
    if (index <= keep_) {
      std::rename(piece_path(j).c_str(), numbered(index).c_str());
    } else {
      ::unlink(piece_path(j).c_str());
    }
  }
}

int LogTail::AddListener(Listener l) {
  int id = next_listener_++;
  listeners_.emplace(id, std::move(l));
  return id;
}

void LogTail::RemoveListener(int id) { listeners_.erase(id); }

}  // namespace vg
