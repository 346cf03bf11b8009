// Progress of a CLI wait (docs/cli.md, "Progress"): one line that says what the command waits
// for, shown once the wait has lasted a second.
//
// On a terminal the line is rewritten in place (`\r` + clear to the end of the line), at most
// every `redraw` (4 times a second), and the final line is kept. Elsewhere (a pipe, a log file) a
// plain line is written only when the state changes (`key`), at most every `plain_every`, so a log
// holds the steps, not a stream of counters. With --json the command prints one JSON document on
// stdout and no progress at all (kSilent). Lines printed while a progress line is shown go above
// it (Above). Time comes from `now`, output goes to `write`: tests drive both.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "clock/clock.h"
#include "util/units.h"

namespace vg {

class ProgressLine {
 public:
  enum class Mode { kTerminal, kPlain, kSilent };
  struct Options {
    Mode mode = Mode::kPlain;
    std::function<void(std::string_view)> write;  // where the progress goes (stderr)
    std::function<SteadyTime()> now;
    Millis delay{1000};        // nothing is shown for waits shorter than this
    Millis redraw{250};        // terminal: at most this often
    Millis plain_every{3000};  // plain: at most one line this often
    unsigned width = 0;        // terminal: columns the line is cut to (0: no limit)
  };

  explicit ProgressLine(Options o);
  // The mode for stderr: kSilent with --json, kTerminal on a terminal, else kPlain.
  static Mode ModeFor(bool json);
  // The production instance: stderr, the steady clock.
  static ProgressLine ForStderr(bool json);

  // The state now. `key` names the state without its counters (e.g. "waiting-for-vram"): a plain
  // line is written when it changes; `text` is the whole line ("waiting for VRAM: 3.0 GiB
  // missing, held by … (12 s)").
  void Update(const std::string& key, const std::string& text);
  // The last line of the wait, kept (written in every mode but kSilent, without the delay).
  void Done(const std::string& text);
  // Removes the live line (terminal), e.g. before the command prints its result.
  void Clear();
  // The wait is over: the live line stays as it was last drawn (terminal), the cursor on the
  // next line, so what the wait was last seen waiting for is kept above the outcome.
  void Keep();
  // Prints `text` (a whole line, with its newline) through `print` with the live line out of the
  // way: cleared first, drawn again after.
  void Above(const std::function<void()>& print);

  Mode mode() const { return o_.mode; }

 private:
  void Draw();

  Options o_;
  SteadyTime began_{};
  SteadyTime last_draw_{};
  bool drawn_ = false;  // a line is on the terminal now
  bool printed_plain_ = false;
  std::string key_, text_, plain_key_;
};

// "12s", "1m05s", "2h03m": a wait's length on a progress line.
std::string WaitedText(double seconds);

// `s` cut to `width` columns (UTF-8 code points; the last one "…" when cut; 0: no limit).
std::string FitColumns(std::string_view s, unsigned width);
// Columns `s` takes (UTF-8 code points).
unsigned Columns(std::string_view s);

}  // namespace vg
