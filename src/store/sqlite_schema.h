// The state database's schema: an ordered list of migrations, and the code that brings a database
// file up to the newest one.
//
// The version a file is at lives in the one-row table `schema_version`. Migration i (0-based) takes
// a database from version i to i + 1; a file with no schema_version table is at version 0 (a new,
// empty file). Adding a table later is one more entry at the end of the list in sqlite_schema.cc;
// entries already released never change. A file at a version newer than this binary knows is
// refused rather than touched.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "util/error.h"

struct sqlite3;

namespace vg {

// The SQL scripts, oldest first. Their count is the newest schema version.
std::span<const std::string_view> SqliteMigrations();
inline int LatestSchemaVersion() { return static_cast<int>(SqliteMigrations().size()); }

// Applies the migrations `db` lacks in one IMMEDIATE transaction (so two processes opening the same
// new file migrate it once). `path` is for error messages.
Result<void> MigrateSchema(sqlite3* db, const std::string& path);

}  // namespace vg
