// Errors as values.
//
// Every fallible operation below main returns Result<T>: either a T or an Error that carries a code
// a caller can branch on, a one-line message saying what went wrong, and a hint saying what to do.
// Library code never prints, never calls exit(); only main turns an Error into a line on stderr
// and an exit status.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace vg {

enum class ErrorCode {
  kInvalidArgument,   // the caller (usually the user) asked for something malformed
  kNotFound,          // a named thing (PID, GPU, file) does not exist
  kPermissionDenied,  // the OS refused (EPERM/EACCES) or policy refused another user's process
  kRefused,           // vramguard refuses on principle (PID 1, itself, a process without VRAM)
  kNoDriver,          // no NVIDIA library or driver: GPU-less machine
  kDriverError,       // NVML answered with an error
  kIo,                // a file or syscall failed unexpectedly
  kTimeout,           // waited as long as allowed
  kUnavailable,       // not now: the daemon is shutting down (HTTP 503)
  kInternal,          // a bug: should not happen
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // what went wrong, one line, no trailing period
  std::string hint;     // what to do about it; may be empty
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message, std::string hint = {}) {
  return std::unexpected(Error{code, std::move(message), std::move(hint)});
}

// Builds an Error from errno after a failed syscall: "<what>: <strerror>".
Error ErrnoError(const std::string& what, int err);

// Exit status main uses for an error code (documented in docs/cli.md).
int ExitStatusFor(ErrorCode code);

}  // namespace vg
