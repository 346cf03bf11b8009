// Instance tags: the VRAMGUARD_INSTANCE value that every process of a service instance carries in
// its environment (set at spawn, inherited by every child, kept across setsid()).
//
// Format: "<service>.<daemon>-<nonce>", with ".hook" appended for a release hook's processes.
// <daemon> is 8 hex digits naming the daemon (a hash of its state directory), <nonce> 12 random
// hex digits naming the instance. The daemon part keeps two daemons with different state
// directories (a system one and a user one, or parallel test runs) from ever taking each other's
// processes for their own leftovers, even when their services share a name.
//
// Pure: no syscalls; the nonce comes in as a number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vg {

struct InstanceTag {
  std::string service;
  std::string daemon;  // 8 hex digits
  std::string nonce;   // 12 hex digits
  bool hook = false;   // a release hook's process, not the service's own
};

// The daemon part of the tags a daemon with this state directory gives out (FNV-1a, 8 hex).
std::string DaemonId(std::string_view state_dir);

// "<service>.<daemon>-<nonce as 12 hex digits>" (the nonce's low 48 bits).
std::string FormatInstanceTag(std::string_view service, std::string_view daemon,
                              std::uint64_t nonce);

// The parts of a tag, or nullopt when it is not one this format produces (older daemons' tags,
// a hook started without an instance, anything a user set by hand).
std::optional<InstanceTag> ParseInstanceTag(std::string_view tag);

// Whether a process carrying `tag` (absent: no tag) belongs to some instance of `service` started
// by the daemon `daemon` — a leftover when it is not the current instance.
bool IsOwnLeftoverTag(const std::optional<std::string>& tag, std::string_view service,
                      std::string_view daemon);

}  // namespace vg
