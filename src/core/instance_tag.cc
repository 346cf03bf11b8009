#include "core/instance_tag.h"

#include <cstdio>

namespace vg {
namespace {

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

constexpr std::string_view kHookSuffix = ".hook";
constexpr std::size_t kDaemonLen = 8;
constexpr std::size_t kNonceLen = 12;

}  // namespace

std::string DaemonId(std::string_view state_dir) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : state_dir) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

std::string FormatInstanceTag(std::string_view service, std::string_view daemon,
                              std::uint64_t nonce) {
  char buf[13];
  std::snprintf(buf, sizeof buf, "%012llx",
                static_cast<unsigned long long>(nonce & 0xffffffffffffull));
  std::string out(service);
  out += '.';
  out += daemon;
  out += '-';
  out += buf;
  return out;
}

std::optional<InstanceTag> ParseInstanceTag(std::string_view tag) {
  InstanceTag out;
  if (tag.size() > kHookSuffix.size() && tag.ends_with(kHookSuffix)) {
    out.hook = true;
    tag.remove_suffix(kHookSuffix.size());
  }
  const std::size_t dot = tag.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string_view id = tag.substr(dot + 1);
  if (id.size() != kDaemonLen + 1 + kNonceLen || id[kDaemonLen] != '-') return std::nullopt;
  std::string_view daemon = id.substr(0, kDaemonLen);
  std::string_view nonce = id.substr(kDaemonLen + 1);
  if (!IsHex(daemon) || !IsHex(nonce)) return std::nullopt;
  out.service = std::string(tag.substr(0, dot));
  out.daemon = std::string(daemon);
  out.nonce = std::string(nonce);
  return out;
}

bool IsOwnLeftoverTag(const std::optional<std::string>& tag, std::string_view service,
                      std::string_view daemon) {
  if (!tag) return false;
  auto t = ParseInstanceTag(*tag);
  return t && t->service == service && t->daemon == daemon;
}

}  // namespace vg
