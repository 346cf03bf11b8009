#include "store/sqlite_error.h"

#include <sqlite3.h>

#include <fmt/format.h>

namespace vg {
namespace {

struct Kind {
  ErrorCode code;
  const char* hint;
};

Kind Classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {ErrorCode::kIo,
              "the file is damaged or not a vramguard state database: stop the daemon and move it "
              "aside; a new one is created on start (docs/state.md says what is lost)"};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {ErrorCode::kTimeout,
              "another process holds the state database locked: is a second vramguard daemon "
              "running with the same state directory?"};
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return {ErrorCode::kPermissionDenied,
              "check the owner and permissions of the state directory and its files"};
    case SQLITE_CANTOPEN:
      return {ErrorCode::kIo, "check that the state directory exists and is writable"};
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return {ErrorCode::kIo, "check free space and the file system holding the state directory"};
    case SQLITE_CONSTRAINT:
      return {ErrorCode::kInvalidArgument, ""};
    default:
      return {ErrorCode::kIo, ""};
  }
}

}  // namespace

Error SqliteError(sqlite3* db, int rc, std::string_view path, std::string_view what) {
  // sqlite3_errmsg describes the connection's most recent error; quote it only when it is this one.
  const bool current = db != nullptr && (sqlite3_extended_errcode(db) & 0xff) == (rc & 0xff);
  const char* detail = current ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const Kind kind = Classify(rc);
  return Error{kind.code, fmt::format("state database {}: {}: {}", path, what, detail), kind.hint};
}

}  // namespace vg
