// The classifier: a streaming matcher over one service's output lines that turns the lines that
// say something went wrong (or that the service is ready) into Incidents.
//
// One Classifier per output stream (stdout and stderr of one instance each get their own); feed it
// every line in order. Not thread-safe; no I/O, no clock. Feed returns the incidents that the line
// completes, at once: the decisive line is never held back waiting for later lines.
//
// Matching: each line (ANSI escapes, trailing CR and spaces removed; at most kMatchBytes of it) is
// checked against the user's signatures first, then the built-in catalogue; the first match wins.
// Literals are found in one pass over the line by a 4-byte anchor filter, so ordinary lines cost
// about one hash lookup per byte and never reach a regex. A markdown section heading ("## …")
// is never a match: it names an error, as a troubleshooting page does.
//
// Merging (docs/oom.md): one cause yields one incident. A match is folded into the previous
// incident of the same family (oom and oom-probable are one family; every other kind its own) when
// it comes within kMergeLines lines of the last line of that family (indented lines — stack
// frames, an error object's fields — do not count; at most kMergeMaxLines lines in all), or ends
// a Python traceback
// (or a chain of them: "During handling of the above exception…") that began within kMergeLines
// lines of it. A folded match is not returned; it extends the window. The one exception: an `oom`
// after an `oom-probable` is returned (it upgrades a guess to a certainty).
//
// The log's own clock (core/log_time.h), when both lines state one: two matches more than
// kMergeSeconds apart are two causes however few lines lie between them (two kernel OOM kills
// hours apart); a match within kBurstSeconds of the family's last one is the same cause however
// many lines lie between them (at most kBurstMaxLines: an allocator's chunk dump, a kernel OOM
// report's process table).
//
// A GPU boundary: a match that names another GPU (index or PCI bus) than its family's incident is
// a new incident, never folded; a ready line (the service started again) ends every open cause.
//
// Updates: numbers may come on lines after the decisive one (a message a logger wrapped, the
// table cudaMallocAsync prints, llama.cpp's "current device: N", an Xid after the kernel's own
// line). Up to kFollowLines lines after the last line of the incident's message (a new traceback
// or two blank lines end it earlier; past one blank line only a line that states a memory size
// continues it), and on any line folded into it, the fields still empty are
// filled from what the line states; Feed then returns the incident again with `update` set, its
// `seq` unchanged and all fields known so far. The decisive line is still returned at once.
//
// Context: a match inside or at the end of a traceback carries the traceback's lines (from
// "Traceback (most recent call last):", at most kContextLines, the last ones kept); any other
// match carries the kPlainContextLines lines before it.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "core/incident.h"
#include "util/pattern.h"

namespace vg {

class Classifier {
 public:
  static constexpr std::size_t kMatchBytes = kMaxMatchLineBytes;  // of each line, matched
  static constexpr std::size_t kLineBytes = 8 * 1024;             // of the decisive line, kept
  static constexpr std::size_t kContextBytes = 1024;              // of each context line, kept
  static constexpr std::size_t kContextLines = 30;                // of a traceback, kept
  static constexpr std::size_t kPlainContextLines = 5;  // before a match outside a traceback
  static constexpr long kMergeLines = 10;               // lines that are not indented
  static constexpr long kMergeMaxLines = 100;           // lines of any kind
  static constexpr double kMergeSeconds = 60;           // by the log's clock: never one cause
  static constexpr double kBurstSeconds = 2;            // by the log's clock: one burst of output
  static constexpr long kBurstMaxLines = 20000;
  // Lines after an incident's decisive line that may still complete its fields (an update).
  static constexpr long kFollowLines = 8;
  // Past a blank line inside that window, how many lines without a size may be passed over
  // before a line with one (TensorRT-LLM's "The following component could not be created: …").
  static constexpr int kPassOverLines = 1;

  // User patterns (from the config) are checked before the built-in catalogue. Invalid ones
  // (see ValidateSignature) are skipped: validate them when the config is read.
  explicit Classifier(std::vector<Signature> extra = {});
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  // The incidents this line completes (usually none). `line` is one line without its newline.
  std::vector<Incident> Feed(std::string_view line);
  // End of stream: nothing is held back, so this only resets the traceback state.
  std::vector<Incident> Flush();

  // Lines fed so far (the 1-based number of the last line).
  long lines() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vg
