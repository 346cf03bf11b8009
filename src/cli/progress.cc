#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace vg {

ProgressLine::ProgressLine(Options o) : o_(std::move(o)) {
  began_ = o_.now();
  last_draw_ = began_;
}

ProgressLine::Mode ProgressLine::ModeFor(bool json) {
  if (json) return Mode::kSilent;
  return isatty(STDERR_FILENO) ? Mode::kTerminal : Mode::kPlain;
}

ProgressLine ProgressLine::ForStderr(bool json) {
  Options o;
  o.mode = ModeFor(json);
  o.write = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  };
  o.now = [] { return std::chrono::steady_clock::now(); };
  if (o.mode == Mode::kTerminal) {
    winsize ws{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) o.width = ws.ws_col - 1;
  }
  return ProgressLine(std::move(o));
}

void ProgressLine::Update(const std::string& key, const std::string& text) {
  const bool changed = key != key_;
  key_ = key;
  text_ = text;
  const SteadyTime now = o_.now();
  if (now - began_ < o_.delay) return;
  switch (o_.mode) {
    case Mode::kTerminal:
      if (changed || !drawn_ || now - last_draw_ >= o_.redraw) Draw();
      break;
    case Mode::kPlain:
      if (key_ != plain_key_ && (!printed_plain_ || now - last_draw_ >= o_.plain_every)) {
        o_.write(text_ + "\n");
        plain_key_ = key_;
        printed_plain_ = true;
        last_draw_ = now;
      }
      break;
    case Mode::kSilent:
      break;
  }
}

void ProgressLine::Draw() {
  o_.write("\r\033[K" + FitColumns(text_, o_.width));
  drawn_ = true;
  last_draw_ = o_.now();
}

void ProgressLine::Done(const std::string& text) {
  switch (o_.mode) {
    case Mode::kTerminal:
      o_.write("\r\033[K" + text + "\n");
      drawn_ = false;
      break;
    case Mode::kPlain:
      o_.write(text + "\n");
      break;
    case Mode::kSilent:
      break;
  }
  text_.clear();
  key_.clear();
}

void ProgressLine::Clear() {
  if (o_.mode == Mode::kTerminal && drawn_) o_.write("\r\033[K");
  drawn_ = false;
}

void ProgressLine::Keep() {
  if (o_.mode == Mode::kTerminal && drawn_) o_.write("\n");
  drawn_ = false;
  text_.clear();
  key_.clear();
}

void ProgressLine::Above(const std::function<void()>& print) {
  const bool was = drawn_;
  Clear();
  print();
  if (was && !text_.empty()) Draw();
}

std::string WaitedText(double seconds) {
  long s = static_cast<long>(seconds < 0 ? 0 : seconds);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

unsigned Columns(std::string_view s) {
  unsigned n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string FitColumns(std::string_view s, unsigned width) {
  if (width == 0 || Columns(s) <= width) return std::string(s);
  std::string out;
  unsigned n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (n + 1 == width) break;  // room for "…" only
      ++n;
    }
    out += s[i];
  }
  return out + "…";
}

}  // namespace vg
