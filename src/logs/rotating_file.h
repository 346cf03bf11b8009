// An append-only log file that rotates by size: path → path.1 → … → path.<keep>, oldest dropped.
//
// Append writes the bytes as given. Before a write that would take the file past max_size the
// file rotates, so no file exceeds max_size; a single write larger than max_size is spread over
// as many files as it needs. keep = 0 keeps no history (the file starts over). The file is
// opened O_APPEND | O_CLOEXEC, mode 0640, and created when missing; an existing file is
// appended to. Writes go to a local file and are not buffered: a crash loses nothing that
// Append returned. Movable, not copyable; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.h"
#include "util/units.h"

namespace vg {

class RotatingFile {
 public:
  // kInvalidArgument for max_size 0 or keep < 0; the open error otherwise.
  static Result<RotatingFile> Open(std::string path, Bytes max_size, int keep);

  RotatingFile(RotatingFile&& other) noexcept;
  RotatingFile& operator=(RotatingFile&& other) noexcept;
  RotatingFile(const RotatingFile&) = delete;
  RotatingFile& operator=(const RotatingFile&) = delete;
  ~RotatingFile();

  Result<void> Append(std::string_view bytes);

  const std::string& path() const { return path_; }
  Bytes size() const { return Bytes(size_); }  // of the current file

 private:
  RotatingFile(std::string path, Bytes max_size, int keep, int fd, std::uint64_t size);
  Result<void> Rotate();
  Result<void> WriteAll(std::string_view bytes);

  std::string path_;
  std::uint64_t max_size_;
  int keep_;
  int fd_;
  std::uint64_t size_;
};

}  // namespace vg
