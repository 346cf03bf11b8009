// Pure parsers for the text of /proc files: no I/O, no allocation beyond what the results need.
//
// Every function takes a file's content (or a path read from a symlink) and returns what it
// found, or nullopt / an empty result when the text is malformed or does not match. They never
// throw. ProcfsSource (procfs.h) and PidfdSignaller (pidfd_signaller.h) read the files; the
// parsers are unit-tested on strings (procfs_parse_test.cc).
//
// Device paths: `device_dir` is the directory holding the NVIDIA nodes ("/dev", or
// "$VRAMGUARD_FAKE_GPU_DIR/dev" on the simulated GPU), already canonical (the kernel shows
// resolved paths in /proc/<pid>/fd and /proc/<pid>/maps). Trailing slashes are ignored. A path
// ending in " (deleted)" (the node was unlinked while held) still counts as the node.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vg::procfs {

// The fields of /proc/<pid>/stat that vramguard uses.
struct StatFields {
  pid_t pid = 0;
  std::string comm;              // between the first '(' and the last ')': may hold spaces and ')'
  char state = '?';              // field 3
  pid_t ppid = 0;                // field 4
  pid_t pgrp = 0;                // field 5
  pid_t session = 0;             // field 6
  unsigned flags = 0;            // field 9: the kernel's PF_* bits
  std::uint64_t start_time = 0;  // field 22, clock ticks since boot

  // A kernel thread (PF_KTHREAD): it has no file descriptors, no memory map and no argv.
  bool IsKernelThread() const { return (flags & kPfKthread) != 0; }
  static constexpr unsigned kPfKthread = 0x00200000;  // include/linux/sched.h
};

// Parses /proc/<pid>/stat; nullopt when it has fewer than 22 fields or no "(comm)".
std::optional<StatFields> ParseStat(std::string_view text);

// The fields of /proc/<pid>/status that vramguard uses.
struct StatusFields {
  uid_t uid = 0;             // real uid: the first number of "Uid:"
  std::vector<pid_t> nspid;  // "NSpid:", outermost namespace first; empty on kernels without it
};

// Parses /proc/<pid>/status; nullopt when there is no parseable "Uid:" line.
std::optional<StatusFields> ParseStatus(std::string_view text);

// Splits /proc/<pid>/cmdline (NUL-terminated arguments) into argv. A buffer that does not end in
// NUL (a process that rewrote its title) yields its last piece as the last argument; an empty
// buffer (kernel thread, zombie) yields an empty argv.
std::vector<std::string> ParseCmdline(std::string_view text);

// The value of `name` in /proc/<pid>/environ (NUL-separated NAME=value entries); the first entry
// wins, like getenv. nullopt when absent.
std::optional<std::string> FindEnvValue(std::string_view environ, std::string_view name);

// Appends the pids of /proc/<pid>/task/<tid>/children ("12 345 ", space-separated) to *out.
// Anything that is not a positive decimal number is skipped.
void ParsePidList(std::string_view text, std::vector<pid_t>* out);

// The minor number N when `path` is "<device_dir>/nvidia<N>" (decimal digits only, so
// nvidia-uvm, nvidia-modeset, nvidiactl and nvidia-caps/... are not GPU nodes).
std::optional<unsigned> ParseDeviceMinor(std::string_view path, std::string_view device_dir);

// Whether `path` is "<device_dir>/nvidiactl".
bool IsCtlNode(std::string_view path, std::string_view device_dir);

// Minor numbers of the GPU nodes mapped in /proc/<pid>/maps, sorted and unique. The pathname is
// the sixth field and runs to the end of the line (it may contain spaces).
std::vector<unsigned> ParseMappedMinors(std::string_view maps, std::string_view device_dir);

}  // namespace vg::procfs
