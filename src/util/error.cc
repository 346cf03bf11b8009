#include "util/error.h"

#include <cerrno>
#include <cstring>

namespace vg {

Error ErrnoError(const std::string& what, int err) {
  ErrorCode code = ErrorCode::kIo;
  if (err == EPERM || err == EACCES) code = ErrorCode::kPermissionDenied;
  if (err == ENOENT || err == ESRCH) code = ErrorCode::kNotFound;
  return Error{code, what + ": " + std::strerror(err), {}};
}

int ExitStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 2;
    case ErrorCode::kNotFound:
      return 3;
    case ErrorCode::kPermissionDenied:
      return 4;
    case ErrorCode::kRefused:
      return 5;
    case ErrorCode::kNoDriver:
      return 6;
    case ErrorCode::kDriverError:
      return 7;
    case ErrorCode::kTimeout:
      return 8;
    case ErrorCode::kUnavailable:
      return 9;
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return 1;
  }
  return 1;
}

}  // namespace vg
