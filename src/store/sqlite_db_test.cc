// The shared connection and statement helper of the SQLite stores: what a store relies on without
// testing it itself (a reused statement starts clean, bind errors surface, NULL is told apart,
// errors name the file).
#include "store/sqlite_db.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "store/store_test_util.h"

namespace vg {
namespace {

using store_test::TempDir;
using ::testing::HasSubstr;

SqliteDb MustOpenDb(const TempDir& dir) {
  const std::string path = dir.File("t.db");
  // Open creates nothing: make the file first, as the stores do.
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f != nullptr) std::fclose(f);
  auto db = SqliteDb::Open(path, 1000);
  EXPECT_TRUE(db.has_value()) << db.error().message;
  auto ok = db->Exec("CREATE TABLE t (i INTEGER, s TEXT, b BLOB)", "create table");
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  return std::move(*db);
}

// An error an operator can act on: it names the database file and what was being done.
void ExpectNames(const Error& error, const std::string& file, std::string_view what) {
  EXPECT_THAT(error.message, HasSubstr(file));
  EXPECT_THAT(error.message, HasSubstr(what));
}

TEST(SqliteDb, OpenDoesNotCreateAMissingFile) {
  TempDir dir;
  auto db = SqliteDb::Open(dir.File("missing.db"), 1000);
  ASSERT_FALSE(db.has_value());
  ExpectNames(db.error(), dir.File("missing.db"), "open");
}

TEST(SqliteDb, ValuesRoundTripAndNullIsToldApart) {
  TempDir dir;
  SqliteDb db = MustOpenDb(dir);
  const std::string payload("a\0b", 3);  // bound without a copy: outlives the query
  const std::string empty;
  {
    auto q = db.Prepare("INSERT INTO t (i, s, b) VALUES (?1, ?2, ?3)");
    ASSERT_TRUE(q.has_value());
    q->Bind(1, std::int64_t{-7}).Bind(2, std::string("text")).BindBlob(3, payload);
    ASSERT_TRUE(q->Run("insert"));
  }
  EXPECT_EQ(db.Changes(), 1);
  EXPECT_EQ(db.LastInsertRowid(), 1);
  {
    auto q = db.Prepare("INSERT INTO t (i, s, b) VALUES (?1, ?2, ?3)");
    ASSERT_TRUE(q.has_value());
    q->BindOptional(1, std::optional<std::int64_t>()).Bind(2, "").BindBlob(3, empty);
    ASSERT_TRUE(q->Run("insert"));
  }
  auto q = db.Prepare("SELECT i, s, b, typeof(s), typeof(b) FROM t ORDER BY rowid");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->Step("read"), true);
  EXPECT_EQ(q->OptInt(0), -7);
  EXPECT_EQ(q->Text(1), "text");
  EXPECT_EQ(q->Blob(2), payload);
  ASSERT_EQ(q->Step("read"), true);
  EXPECT_TRUE(q->IsNull(0));
  EXPECT_EQ(q->OptInt(0), std::nullopt);
  // Empty text and an empty blob are values, not NULL.
  EXPECT_FALSE(q->IsNull(1));
  EXPECT_FALSE(q->IsNull(2));
  EXPECT_EQ(q->Text(3), "text");
  EXPECT_EQ(q->Text(4), "blob");
  EXPECT_EQ(q->Step("read"), false);
}

TEST(SqliteDb, AReusedStatementStartsWithNoBindingsAndFromTheFirstRow) {
  TempDir dir;
  SqliteDb db = MustOpenDb(dir);
  ASSERT_TRUE(db.Exec("INSERT INTO t (i) VALUES (1), (2)", "insert"));
  constexpr std::string_view kSql = "SELECT ?1, i FROM t ORDER BY i";
  {
    auto q = db.Prepare(kSql);
    ASSERT_TRUE(q.has_value());
    q->Bind(1, std::int64_t{42});
    ASSERT_EQ(q->Step("first use"), true);
    EXPECT_EQ(q->Int(0), 42);
    EXPECT_EQ(q->Int(1), 1);
  }  // left mid-way, one row unread
  auto q = db.Prepare(kSql);
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->Step("second use"), true);
  EXPECT_TRUE(q->IsNull(0));  // the 42 was cleared
  EXPECT_EQ(q->Int(1), 1);    // and the statement reset
}

TEST(SqliteDb, ABindErrorIsReportedByStepWithTheFile) {
  TempDir dir;
  SqliteDb db = MustOpenDb(dir);
  auto q = db.Prepare("SELECT ?1");
  ASSERT_TRUE(q.has_value());
  q->Bind(2, std::int64_t{1});  // no such parameter
  auto row = q->Step("select with a bad binding");
  ASSERT_FALSE(row.has_value());
  ExpectNames(row.error(), dir.File("t.db"), "select with a bad binding");
}

TEST(SqliteDb, APrepareErrorNamesTheFileAndATransactionRollsBack) {
  TempDir dir;
  SqliteDb db = MustOpenDb(dir);
  auto bad = db.Prepare("SELECT FROM nowhere");
  ASSERT_FALSE(bad.has_value());
  ExpectNames(bad.error(), dir.File("t.db"), "prepare statement");

  ASSERT_TRUE(db.Exec("BEGIN IMMEDIATE", "begin"));
  ASSERT_TRUE(db.Exec("INSERT INTO t (i) VALUES (5)", "insert"));
  db.Rollback();
  auto q = db.Prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->Step("count"), true);
  EXPECT_EQ(q->Int(0), 0);
}

}  // namespace
}  // namespace vg
