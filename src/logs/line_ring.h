// The last N lines of a service's output, for `vramguard logs`, crash events and readiness.
//
// A fixed-capacity ring: pushing onto a full ring drops the oldest line. total() counts every
// line ever pushed, so a follower can tell how many it missed. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vg {

class LineRing {
 public:
  explicit LineRing(std::size_t capacity = 1000);

  void Push(std::string line);
  // The last min(n, size()) lines, oldest first.
  std::vector<std::string> Last(std::size_t n) const;
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return lines_.size(); }
  std::uint64_t total() const { return total_; }

 private:
  std::vector<std::string> lines_;  // capacity slots
  std::size_t next_ = 0;            // slot the next line goes to
  std::size_t size_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace vg
