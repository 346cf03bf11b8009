#include "proc/procfs_parse.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace vg::procfs {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";
constexpr std::string_view kGpuNodePrefix = "nvidia";
constexpr std::string_view kCtlNodeName = "nvidiactl";
constexpr std::size_t kMaxMinorDigits = 9;  // fits unsigned; real minors are < 256

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// Parses the whole of `s` as a decimal integer.
template <class T>
bool ParseNumber(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Returns the next run of non-blank characters of *rest and advances past it.
std::string_view NextToken(std::string_view* rest) {
  std::size_t begin = 0;
  while (begin < rest->size() && IsSpace((*rest)[begin])) ++begin;
  std::size_t end = begin;
  while (end < rest->size() && !IsSpace((*rest)[end]) && (*rest)[end] != '\n') ++end;
  std::string_view token = rest->substr(begin, end - begin);
  rest->remove_prefix(end);
  return token;
}

std::string_view TrimDir(std::string_view dir) {
  while (!dir.empty() && dir.back() == '/') dir.remove_suffix(1);
  return dir;
}

// The file name of `path` when it lies directly in `device_dir`, without a " (deleted)" suffix.
std::optional<std::string_view> NodeName(std::string_view path, std::string_view device_dir) {
  device_dir = TrimDir(device_dir);
  if (path.ends_with(kDeletedSuffix)) path.remove_suffix(kDeletedSuffix.size());
  if (path.size() <= device_dir.size() + 1 || !path.starts_with(device_dir) ||
      path[device_dir.size()] != '/') {
    return std::nullopt;
  }
  return path.substr(device_dir.size() + 1);
}

}  // namespace

std::optional<StatFields> ParseStat(std::string_view text) {
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  StatFields out;
  std::string_view pid_text = text.substr(0, open);
  while (!pid_text.empty() && IsSpace(pid_text.back())) pid_text.remove_suffix(1);
  if (!ParseNumber(pid_text, &out.pid)) return std::nullopt;
  out.comm.assign(text.substr(open + 1, close - open - 1));

  // Fields 3..22 follow the comm; index 0 is field 3.
  constexpr std::size_t kFields = 20;
  std::array<std::string_view, kFields> fields;
  std::string_view rest = text.substr(close + 1);
  for (std::size_t i = 0; i < kFields; ++i) {
    fields[i] = NextToken(&rest);
    if (fields[i].empty()) return std::nullopt;
  }
  if (fields[0].size() != 1) return std::nullopt;
  out.state = fields[0][0];
  if (!ParseNumber(fields[1], &out.ppid) || !ParseNumber(fields[2], &out.pgrp) ||
      !ParseNumber(fields[3], &out.session) || !ParseNumber(fields[6], &out.flags) ||
      !ParseNumber(fields[19], &out.start_time)) {
    return std::nullopt;
  }
  return out;
}

std::optional<StatusFields> ParseStatus(std::string_view text) {
  StatusFields out;
  bool have_uid = false;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.starts_with("Uid:")) {
      line.remove_prefix(4);
      have_uid = ParseNumber(NextToken(&line), &out.uid);
      if (!have_uid) return std::nullopt;
    } else if (line.starts_with("NSpid:")) {
      line.remove_prefix(6);
      for (std::string_view token = NextToken(&line); !token.empty(); token = NextToken(&line)) {
        pid_t pid = 0;
        if (!ParseNumber(token, &pid)) break;
        out.nspid.push_back(pid);
      }
      if (have_uid) break;  // NSpid comes after Uid; nothing else is needed
    }
  }
  if (!have_uid) return std::nullopt;
  return out;
}

std::vector<std::string> ParseCmdline(std::string_view text) {
  std::vector<std::string> argv;
  if (text.empty()) return argv;
  argv.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\0')) + 1);
  while (!text.empty()) {
    const std::size_t nul = text.find('\0');
    argv.emplace_back(text.substr(0, nul));
    text.remove_prefix(nul == std::string_view::npos ? text.size() : nul + 1);
  }
  return argv;
}

void ParsePidList(std::string_view text, std::vector<pid_t>* out) {
  while (!text.empty()) {
    const std::size_t end = std::min(text.find_first_of(" \n"), text.size());
    const std::string_view word = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    pid_t pid = 0;
    const auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), pid);
    if (ec == std::errc() && ptr == word.data() + word.size() && pid > 0) out->push_back(pid);
  }
}

std::optional<std::string> FindEnvValue(std::string_view environ, std::string_view name) {
  if (name.empty()) return std::nullopt;
  while (!environ.empty()) {
    const std::size_t nul = environ.find('\0');
    const std::string_view entry = environ.substr(0, nul);
    environ.remove_prefix(nul == std::string_view::npos ? environ.size() : nul + 1);
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
      return std::string(entry.substr(name.size() + 1));
    }
  }
  return std::nullopt;
}

std::optional<unsigned> ParseDeviceMinor(std::string_view path, std::string_view device_dir) {
  const std::optional<std::string_view> name = NodeName(path, device_dir);
  if (!name || !name->starts_with(kGpuNodePrefix)) return std::nullopt;
  const std::string_view digits = name->substr(kGpuNodePrefix.size());
  if (digits.empty() || digits.size() > kMaxMinorDigits) return std::nullopt;
  unsigned minor = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (!ParseNumber(digits, &minor)) return std::nullopt;
  return minor;
}

bool IsCtlNode(std::string_view path, std::string_view device_dir) {
  const std::optional<std::string_view> name = NodeName(path, device_dir);
  return name && *name == kCtlNodeName;
}

std::vector<unsigned> ParseMappedMinors(std::string_view maps, std::string_view device_dir) {
  std::vector<unsigned> minors;
  // Only lines that contain "<device_dir>/nvidia" can match: find those, then parse the line.
  std::string needle(TrimDir(device_dir));
  needle += '/';
  needle += kGpuNodePrefix;
  std::size_t pos = 0;
  while ((pos = maps.find(needle, pos)) != std::string_view::npos) {
    const std::size_t line_begin = maps.rfind('\n', pos);
    const std::size_t begin = line_begin == std::string_view::npos ? 0 : line_begin + 1;
    std::size_t end = maps.find('\n', pos);
    if (end == std::string_view::npos) end = maps.size();
    std::string_view line = maps.substr(begin, end - begin);
    pos = end;
    // address perms offset dev inode pathname
    bool complete = true;
    for (int i = 0; i < 5; ++i) {
      if (NextToken(&line).empty()) complete = false;
    }
    while (!line.empty() && IsSpace(line.front())) line.remove_prefix(1);
    if (!complete) continue;
    if (const std::optional<unsigned> minor = ParseDeviceMinor(line, device_dir)) {
      minors.push_back(*minor);
    }
  }
  std::sort(minors.begin(), minors.end());
  minors.erase(std::unique(minors.begin(), minors.end()), minors.end());
  return minors;
}

}  // namespace vg::procfs
