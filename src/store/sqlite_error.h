// Turns an SQLite result code into a vg::Error that names the database file, says what was being
// done, quotes sqlite3_errmsg, and carries a hint an operator can act on (a damaged file, a lock
// held by another daemon, permissions, a full disk). Used only by the SQLite store's files.
#pragma once

#include <string_view>

#include "util/error.h"

struct sqlite3;

namespace vg {

// `db` may be null (sqlite3_errstr(rc) is quoted then). `rc` may be an extended result code.
// Message: "state database <path>: <what>: <sqlite message>".
Error SqliteError(sqlite3* db, int rc, std::string_view path, std::string_view what);

}  // namespace vg
