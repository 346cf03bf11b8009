#include "logs/line_splitter.h"

#include <algorithm>
#include <utility>

namespace vg {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The longest prefix of s no longer than n bytes that does not split a UTF-8 character.
std::size_t CutPoint(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s.size();
  std::size_t cut = n;
  // A character is at most 4 bytes: back off at most 3 continuation bytes.
  for (int i = 0; i < 3 && cut > 0 && IsContinuationByte(s[cut]); ++i) --cut;
  return IsContinuationByte(s[cut]) ? n : cut;  // not UTF-8 after all: cut where asked
}

}  // namespace

LineSplitter::LineSplitter(std::size_t max_line) : max_line_(std::max<std::size_t>(max_line, 1)) {}

std::vector<std::string> LineSplitter::Feed(std::string_view bytes) {
  std::vector<std::string> lines;
  for (const char c : bytes) {
    if (c == '\n') {
      if (!discarding_) lines.push_back(std::move(partial_));
      partial_.clear();
      pending_cr_ = false;
      discarding_ = false;
      continue;
    }
    if (c == '\r') {
      pending_cr_ = true;
      continue;
    }
    if (discarding_) continue;
    if (pending_cr_) {
      partial_.clear();  // a carriage return: the line is redrawn from its start
      pending_cr_ = false;
    }
    partial_.push_back(c);
    if (partial_.size() > max_line_) {
      partial_.resize(CutPoint(partial_, max_line_));
      partial_.append(kTruncatedMark);
      lines.push_back(std::move(partial_));
      partial_.clear();
      discarding_ = true;
    }
  }
  return lines;
}

std::optional<std::string> LineSplitter::Flush() {
  std::optional<std::string> rest;
  if (!partial_.empty() && !discarding_) rest = std::move(partial_);
  partial_.clear();
  pending_cr_ = false;
  discarding_ = false;
  return rest;
}

}  // namespace vg
