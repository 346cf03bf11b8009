#include "logs/line_ring.h"

#include <algorithm>
#include <utility>

namespace vg {

LineRing::LineRing(std::size_t capacity) : lines_(capacity) {}

void LineRing::Push(std::string line) {
  ++total_;
  if (lines_.empty()) return;
  lines_[next_] = std::move(line);
  next_ = (next_ + 1) % lines_.size();
  size_ = std::min(size_ + 1, lines_.size());
}

std::vector<std::string> LineRing::Last(std::size_t n) const {
  n = std::min(n, size_);
  std::vector<std::string> out;
  out.reserve(n);
  const std::size_t cap = lines_.size();
  for (std::size_t i = 0; i < n; ++i) out.push_back(lines_[(next_ + cap - n + i) % cap]);
  return out;
}

}  // namespace vg
