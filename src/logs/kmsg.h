// The kernel log: its record format and opening it for following.
//
// /dev/kmsg (Documentation/ABI/testing/dev-kmsg): every read() returns one record,
//   "<prefix>,<seq>,<usec>,<flags>[,…];<message>\n" followed by optional " KEY=value\n" lines,
// where prefix = facility * 8 + level, seq counts records, usec is microseconds since boot, and
// unprintable bytes of the message are escaped as \xNN. KmsgSplitter turns the bytes of one read
// (or any chunk of a FIFO or a file the records are appended to) into records; a line that is not
// a record (plain `dmesg` text, say) becomes a record holding just that message.
//
// OpenKernelLog opens a path for following from its end, non-blocking: /dev/kmsg (seeked to the
// end, so only new records come), a FIFO (opened read-write so it never reports end-of-file
// between writers) or a regular file (seeked to the end; the caller polls it). When it cannot, the
// error says why in words a person can act on (not root with kernel.dmesg_restrict = 1 …).
//
// Pure parsing plus one adapter function; the splitter is not thread-safe (one per stream).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace vg {

struct KmsgRecord {
  std::optional<int> level;     // syslog level 0 (emerg) … 7 (debug); absent for plain lines
  std::optional<int> facility;  // 0 kernel, 1 user …
  std::optional<std::uint64_t> seq;
  std::optional<std::int64_t> usec;  // since boot
  std::string message;               // \xNN escapes decoded
};

// One record's first line ("6,1234,5678901,-;NVRM: …"), without the newline. nullopt when the
// line is not in the record format.
std::optional<KmsgRecord> ParseKmsgRecord(std::string_view line);

class KmsgSplitter {
 public:
  static constexpr std::size_t kMaxLine = 16 * 1024;
  // The records these bytes complete. Continuation lines (" KEY=value") are dropped; a line
  // longer than kMaxLine is cut there.
  std::vector<KmsgRecord> Feed(std::string_view bytes);

 private:
  std::string partial_;
};

enum class KernelLogType { kDevice, kFifo, kFile };

struct KernelLogFd {
  int fd = -1;  // owned by the caller: O_NONBLOCK | O_CLOEXEC
  KernelLogType type = KernelLogType::kDevice;
};

// Opens `path` for following from its end (see above). Errors: kNotFound, kPermissionDenied
// (with the reason: not root and kernel.dmesg_restrict = 1, …), kInvalidArgument (a directory,
// a socket), kIo.
Result<KernelLogFd> OpenKernelLog(const std::string& path);

}  // namespace vg
