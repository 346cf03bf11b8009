// Units in types: byte counts and durations, their parsing from user input and their display.
//
// Bytes is a strong type for memory sizes so a count of bytes never mixes with a count of MiB.
// Parsing accepts what an operator writes in a flag or a config ("14GiB", "512 MiB", "10GB",
// "1.5G", "4096"); display uses binary units with one decimal ("10.6 GiB"), as docs/cli.md says.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.h"

namespace vg {

class Bytes {
 public:
  constexpr Bytes() = default;
  constexpr explicit Bytes(std::uint64_t count) : count_(count) {}
  static constexpr Bytes MiB(std::uint64_t n) { return Bytes(n << 20); }
  static constexpr Bytes GiB(std::uint64_t n) { return Bytes(n << 30); }

  constexpr std::uint64_t count() const { return count_; }

  constexpr Bytes operator+(Bytes o) const { return Bytes(count_ + o.count_); }
  // Saturates at zero: a negative amount of memory is always a measurement race.
  constexpr Bytes operator-(Bytes o) const {
    return Bytes(count_ > o.count_ ? count_ - o.count_ : 0);
  }
  constexpr Bytes& operator+=(Bytes o) {
    count_ += o.count_;
    return *this;
  }
  constexpr auto operator<=>(const Bytes&) const = default;

 private:
  std::uint64_t count_ = 0;
};

// "14GiB", "14 GiB", "14G", "14GB" (decimal), "512MiB", "4096" (bytes). Case-insensitive units.
Result<Bytes> ParseBytes(std::string_view text);

// "10.6 GiB", "612.0 MiB", "4.0 KiB", "512 B".
std::string FormatBytes(Bytes b);

using Millis = std::chrono::milliseconds;

// "10s", "100ms", "1.5s", "2m", "1h", "250us" is rejected (too fine for any vramguard knob).
Result<Millis> ParseDuration(std::string_view text);

// For human output: "0.12 s", milliseconds below 0.1 s ("3.4 ms"), whole units from a minute
// ("1m 30s", "1h", "2h 5m").
std::string FormatSeconds(std::chrono::nanoseconds d);

// Seconds as a double, for JSON fields ending in _s.
inline double ToSeconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace vg
