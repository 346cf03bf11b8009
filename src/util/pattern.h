// User-supplied regular expressions (ready lines, liveness and watchdog bodies, incident
// patterns) with bounded work: RE2 underneath, so matching is linear in the text and never
// recurses, whatever the pattern or the line.
//
// Contract:
//  - Syntax is RE2's (https://github.com/google/re2/wiki/Syntax): Perl-like classes, groups,
//    alternation, repetition {n,m} (m ≤ 1000), \d \w \s \b, (?i) flags. Not supported, by design:
//    backreferences (\1), lookahead and lookbehind ((?=…), (?!…), (?<=…), (?<!…)), possessive
//    quantifiers. Compile() rejects them with a one-line message that says so.
//  - Search(text) looks for the pattern anywhere in at most kMaxMatchLineBytes of `text` (its
//    first bytes): the longest text the daemon classifies or matches. Work is O(pattern × text).
//  - A Pattern is immutable once compiled; copies share the compiled program; Search is const and
//    safe to call from several threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.h"

namespace vg {

// The longest text (a log line, a probe's body) the daemon classifies or matches: longer text
// is matched on its first kMaxMatchLineBytes; the full line still goes to the service's log
// file. 8 KiB holds every real engine message we know of (the longest in tests/fixtures/logs is
// 619 bytes; PyTorch's OOM message with its allocator hint is under 1 KiB) several times over,
// while bounding each line's matching work at a few microseconds per pattern.
inline constexpr std::size_t kMaxMatchLineBytes = 8 * 1024;

class Pattern {
 public:
  // Compiles `expr` (RE2 syntax). An empty expression is valid and matches everything.
  // Errors are kInvalidArgument: "not a valid RE2 pattern: <why>" with a hint naming what RE2
  // lacks (backreferences, lookaround).
  static Result<Pattern> Compile(std::string_view expr);

  // True when the pattern occurs anywhere in the first kMaxMatchLineBytes of `text`.
  bool Search(std::string_view text) const;

  // The expression as given to Compile.
  const std::string& expr() const;

  Pattern(const Pattern&) = default;
  Pattern& operator=(const Pattern&) = default;
  Pattern(Pattern&&) noexcept = default;
  Pattern& operator=(Pattern&&) noexcept = default;
  ~Pattern();

 private:
  struct Impl;
  explicit Pattern(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace vg
