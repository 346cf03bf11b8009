#include "core/log_time.h"

#include <array>
#include <cmath>
#include <cstdint>

namespace vg {
namespace {

// How far into the line a timestamp may start ("<3>", "host:", "ng30903:3063028 " …).
constexpr std::size_t kLeadBytes = 40;

bool IsTimeDigit(char c) { return c >= '0' && c <= '9'; }
bool IsTimeAlnum(char c) {
  return IsTimeDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A cursor over the line that reads fixed-width fields; any mismatch fails the whole parse.
struct Reader {
  std::string_view s;
  std::size_t i = 0;
  bool ok = true;

  int Digits(std::size_t n) {
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      if (i >= s.size() || !IsTimeDigit(s[i])) {
        ok = false;
        return 0;
      }
      v = v * 10 + (s[i++] - '0');
    }
    return v;
  }
  void Char(char c) {
    if (i >= s.size() || s[i] != c) ok = false;
    if (ok) ++i;
  }
  bool Peek(char c) const { return i < s.size() && s[i] == c; }
  // ".123456" or ",678628": the fraction of a second, if there.
  double Fraction() {
    if (!(Peek('.') || Peek(','))) return 0;
    ++i;
    double scale = 0.1, v = 0;
    std::size_t n = 0;
    while (i < s.size() && IsTimeDigit(s[i]) && n < 9) {
      v += (s[i++] - '0') * scale;
      scale /= 10;
      ++n;
    }
    if (n == 0) ok = false;
    return v;
  }
  // "HH:MM:SS" and its fraction, as seconds of the day.
  double ClockTime() {
    int h = Digits(2);
    Char(':');
    int m = Digits(2);
    Char(':');
    int sec = Digits(2);
    if (ok && (h > 23 || m > 59 || sec > 60)) ok = false;
    return h * 3600.0 + m * 60.0 + sec + Fraction();
  }
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

bool ValidDate(int month, int day) { return month >= 1 && month <= 12 && day >= 1 && day <= 31; }

// Day of a year that is not known (a leap year is assumed: 29 February exists).
int DayOfYear(int month, int day) {
  static constexpr std::array<int, 12> kBefore = {0,   31,  60,  91,  121, 152,
                                                  182, 213, 244, 274, 305, 335};
  return kBefore[static_cast<std::size_t>(month - 1)] + day - 1;
}

// "[ 1234.567890]"
std::optional<LogTime> Dmesg(std::string_view s) {
  Reader r{s};
  r.Char('[');
  while (r.ok && r.Peek(' ')) ++r.i;
  double whole = 0;
  std::size_t digits = 0;
  while (r.ok && r.i < s.size() && IsTimeDigit(s[r.i]) && digits < 12) {
    whole = whole * 10 + (s[r.i++] - '0');
    ++digits;
  }
  if (digits == 0 || !r.Peek('.')) return std::nullopt;
  double frac = r.Fraction();
  r.Char(']');
  if (!r.ok) return std::nullopt;
  return LogTime{LogTime::Clock::kBoot, whole + frac};
}

// "[08/03/2022-23:18:05]"
std::optional<LogTime> TensorRt(std::string_view s) {
  Reader r{s};
  r.Char('[');
  int month = r.Digits(2);
  r.Char('/');
  int day = r.Digits(2);
  r.Char('/');
  int year = r.Digits(4);
  r.Char('-');
  double tod = r.ClockTime();
  r.Char(']');
  if (!r.ok || !ValidDate(month, day)) return std::nullopt;
  return LogTime{LogTime::Clock::kCalendar,
                 static_cast<double>(DaysFromCivil(year, month, day)) * 86400.0 + tod};
}

// "2024-04-29T14:55:41,678628+02:00", "2019-08-18 03:55:10.593121"
std::optional<LogTime> Iso(std::string_view s) {
  Reader r{s};
  int year = r.Digits(4);
  r.Char('-');
  int month = r.Digits(2);
  r.Char('-');
  int day = r.Digits(2);
  if (r.ok && (r.Peek('T') || r.Peek(' '))) {
    ++r.i;
  } else {
    r.ok = false;
  }
  double tod = r.ClockTime();
  if (!r.ok || !ValidDate(month, day)) return std::nullopt;
  return LogTime{LogTime::Clock::kCalendar,
                 static_cast<double>(DaysFromCivil(year, month, day)) * 86400.0 + tod};
}

// "Apr 25 06:31:56" (day padded with a space or not)
std::optional<LogTime> Syslog(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < 15) return std::nullopt;
  int month = 0;
  for (std::size_t m = 0; m < kMonths.size(); ++m) {
    if (s.starts_with(kMonths[m])) month = static_cast<int>(m) + 1;
  }
  if (month == 0 || s[3] != ' ') return std::nullopt;
  Reader r{s, 4};
  if (r.Peek(' ')) ++r.i;
  int day = 0;
  std::size_t digits = 0;
  while (r.i < s.size() && IsTimeDigit(s[r.i]) && digits < 2) {
    day = day * 10 + (s[r.i++] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  r.Char(' ');
  double tod = r.ClockTime();
  if (!r.ok || !ValidDate(month, day)) return std::nullopt;
  return LogTime{LogTime::Clock::kYearless, DayOfYear(month, day) * 86400.0 + tod};
}

// "E0323 20:28:49.804409"
std::optional<LogTime> Glog(std::string_view s) {
  if (s.empty() || (s[0] != 'I' && s[0] != 'W' && s[0] != 'E' && s[0] != 'F')) {
    return std::nullopt;
  }
  Reader r{s, 1};
  int month = r.Digits(2);
  int day = r.Digits(2);
  r.Char(' ');
  double tod = r.ClockTime();
  if (!r.ok || !ValidDate(month, day)) return std::nullopt;
  return LogTime{LogTime::Clock::kYearless, DayOfYear(month, day) * 86400.0 + tod};
}

}  // namespace

std::optional<LogTime> ParseLogTime(std::string_view line) {
  line = line.substr(0, kLogTimeScanBytes);
  for (std::size_t at = 0; at < line.size() && at <= kLeadBytes; ++at) {
    // A timestamp starts a word: never inside a number or a name.
    if (at > 0 && IsTimeAlnum(line[at - 1])) continue;
    std::string_view s = line.substr(at);
    const char c = s[0];
    std::optional<LogTime> t;
    if (c == '[') {
      t = Dmesg(s);
      if (!t) t = TensorRt(s);
    } else if (IsTimeDigit(c)) {
      t = Iso(s);
    } else if (c >= 'A' && c <= 'Z') {
      t = Syslog(s);
      if (!t) t = Glog(s);
    }
    if (t) return t;
  }
  return std::nullopt;
}

std::optional<double> SecondsBetween(const LogTime& a, const LogTime& b) {
  if (a.clock != b.clock) return std::nullopt;
  return b.seconds - a.seconds;
}

}  // namespace vg
