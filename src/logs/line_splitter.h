// Splits a byte stream (a service's stdout or stderr, read in arbitrary chunks) into lines.
//
// Lines end at '\n'. A "\r\n" ending loses its '\r'. A lone '\r' inside a line returns the
// carriage the way a terminal does: what came before it on that line is overwritten, so a
// progress bar redrawn with '\r' (tqdm) yields its last state instead of one huge line. A line
// longer than max_line bytes is cut at max_line (backing off to a UTF-8 character boundary),
// marked with " [truncated]" and emitted at once; the rest of it, up to its '\n', is dropped.
// Memory is bounded by max_line. Not thread-safe; one splitter per stream.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vg {

class LineSplitter {
 public:
  static constexpr std::string_view kTruncatedMark = " [truncated]";

  explicit LineSplitter(std::size_t max_line = 64 * 1024);

  // The lines completed by these bytes, without their endings.
  std::vector<std::string> Feed(std::string_view bytes);
  // The unterminated rest, if any (the stream ended); the splitter starts afresh.
  std::optional<std::string> Flush();

 private:
  std::size_t max_line_;
  std::string partial_;
  bool pending_cr_ = false;  // the last byte was '\r': "\r\n" or a carriage return?
  bool discarding_ = false;  // the current line was cut: drop bytes until '\n'
};

}  // namespace vg
