// What only the SQLite store can get wrong: files, permissions, schema migration, damaged files,
// other connections and processes, and surviving the writer's death.
#include "store/sqlite_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_schema.h"
#include "store/store_test_util.h"

namespace vg {
namespace {

namespace fs = std::filesystem;
using store_test::Child;
using store_test::Pipe;
using store_test::TempDir;
using ::testing::HasSubstr;

InstanceRecord Instance(const std::string& service, pid_t pid) {
  return InstanceRecord{.service = service,
                        .tag = service + "-tag",
                        .pid = pid,
                        .start_time = 123456,
                        .cgroup = "",
                        .started_unix_ms = 1700000000000,
                        .fingerprint = "f"};
}

EventRecord Event(const std::string& service, const std::string& kind) {
  return EventRecord{.time_unix_ms = 1700000000000, .service = service, .kind = kind};
}

std::unique_ptr<SqliteStore> MustOpenStore(const std::string& path,
                                           SqliteStore::Options options = {}) {
  auto store = SqliteStore::Open(path, options);
  EXPECT_TRUE(store.has_value()) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

// Asks SQLite directly, bypassing the store: the first column of the first row, as text.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out = "<error>";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(stmt, 0);
        out = text != nullptr ? reinterpret_cast<const char*>(text) : "<null>";
      } else if (rc == SQLITE_DONE) {
        out = "<done>";
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return out;
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(StoreSqlite, ReopenKeepsEverything) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  std::int64_t id = 0;
  {
    auto store = MustOpenStore(path);
    ASSERT_TRUE(store->PutInstance(Instance("i2v", 4242)).has_value());
    id = store->AppendEvent(Event("i2v", "started")).value();
    ASSERT_TRUE(store->PutValue("config_fingerprint", "abc").has_value());
  }
  auto store = MustOpenStore(path);
  auto instances = store->ListInstances().value();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0], Instance("i2v", 4242));
  EXPECT_EQ(store->LastEvent("i2v").value().value().id, id);
  EXPECT_EQ(store->GetValue("config_fingerprint").value(), "abc");
  EXPECT_GT(store->AppendEvent(Event("i2v", "stopped")).value(), id);
}

TEST(StoreSqlite, CreatesMissingDirectoriesAndFilesOwnerOnly) {
  TempDir dir;
  const std::string path = dir.File("a/b/state.db");
  auto store = MustOpenStore(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutValue("k", "v").has_value());
  EXPECT_EQ(Mode(dir.File("a")), 0700u);
  EXPECT_EQ(Mode(dir.File("a/b")), 0700u);
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Mode(path + "-wal"), 0600u);
}

TEST(StoreSqlite, UsesWriteAheadLog) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = MustOpenStore(path);
  ASSERT_TRUE(store->PutValue("k", "v").has_value());
  EXPECT_TRUE(fs::exists(path + "-wal"));
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal");
}

// The daemon spawns services: none may inherit the database's descriptors.
TEST(StoreSqlite, DescriptorsAreCloseOnExec) {
  TempDir dir;
  auto store = MustOpenStore(dir.File("state.db"));
  ASSERT_TRUE(store->PutValue("k", "v").has_value());
  int found = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(entry.path(), ec);
    if (ec || !target.string().starts_with(dir.path())) continue;
    ++found;
    const int fd = std::stoi(entry.path().filename().string());
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << target;
  }
  EXPECT_GE(found, 2);  // state.db and state.db-wal at least
}

TEST(StoreSqlite, MigratesAnEmptyFileToTheLatestSchema) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  { std::ofstream touch(path); }
  ASSERT_EQ(fs::file_size(path), 0u);
  ASSERT_NE(MustOpenStore(path), nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"),
            std::to_string(LatestSchemaVersion()));
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM schema_version"), "1");
  for (const char* table : {"instances", "events", "kv"}) {
    EXPECT_EQ(
        RawQuery(path, std::string("SELECT name FROM sqlite_master WHERE name = '") + table + "'"),
        table);
  }
  // Reopening an up-to-date file runs no migration twice (CREATE TABLE would fail).
  ASSERT_NE(MustOpenStore(path), nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM schema_version"), "1");
}

TEST(StoreSqlite, RefusesASchemaNewerThanItKnows) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  ASSERT_NE(MustOpenStore(path), nullptr);
  ASSERT_EQ(RawQuery(path, "UPDATE schema_version SET version = 999"), "<done>");
  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kRefused);
  EXPECT_THAT(store.error().message, HasSubstr(path));
  EXPECT_THAT(store.error().message, HasSubstr("999"));
}

TEST(StoreSqlite, DamagedFileIsAClearErrorAndIsNotOverwritten) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  const std::string garbage(8192, 'x');
  { std::ofstream(path, std::ios::binary) << garbage; }
  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
  EXPECT_THAT(store.error().message, HasSubstr(path));
  EXPECT_THAT(store.error().message, HasSubstr("not a database"));
  EXPECT_THAT(store.error().hint, HasSubstr("docs/state.md"));
  EXPECT_EQ(ReadAll(path), garbage);
}

TEST(StoreSqlite, ParentThatIsAFileIsAnError) {
  TempDir dir;
  { std::ofstream(dir.File("file")) << "x"; }
  auto store = SqliteStore::Open(dir.File("file/state.db"));
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error().message, HasSubstr(dir.File("file")));
  EXPECT_THAT(store.error().message, HasSubstr("Not a directory"));
}

TEST(StoreSqlite, RejectsEmptyPathAndBadOptions) {
  EXPECT_EQ(SqliteStore::Open("").error().code, ErrorCode::kInvalidArgument);
  TempDir dir;
  auto store = SqliteStore::Open(dir.File("state.db"), {.max_events = 0});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
}

TEST(StoreSqlite, SecondConnectionSeesCommittedData) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto writer = MustOpenStore(path);
  auto reader = MustOpenStore(path);
  ASSERT_TRUE(writer->PutInstance(Instance("i2v", 1)).has_value());
  const auto first = writer->AppendEvent(Event("i2v", "started")).value();
  EXPECT_EQ(reader->ListInstances().value().size(), 1u);
  EXPECT_EQ(reader->LastEvent("i2v").value().value().id, first);
  // Ids stay increasing across connections.
  EXPECT_GT(reader->AppendEvent(Event("i2v", "ready")).value(), first);
  EXPECT_EQ(writer->LastEvent("i2v").value().value().kind, "ready");
}

TEST(StoreSqlite, ReaderInAnotherProcessSeesCommitsWhileTheWriterIsOpen) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  Pipe go;
  // Forked before this process opens the file: SQLite state must not cross fork().
  Child reader([&] {
    go.CloseWrite();
    if (!go.Read()) return 10;
    auto store = SqliteStore::Open(path);
    if (!store) return 11;
    auto instances = (*store)->ListInstances();
    if (!instances || instances->size() != 1 || (*instances)[0].pid != 4242) return 12;
    auto last = (*store)->LastEvent("i2v");
    if (!last || !*last || (*last)->kind != "started") return 13;
    if (!(*store)->PutValue("from_reader", "yes")) return 14;
    return 0;
  });
  go.CloseRead();
  auto writer = MustOpenStore(path);
  ASSERT_TRUE(writer->PutInstance(Instance("i2v", 4242)).has_value());
  ASSERT_TRUE(writer->AppendEvent(Event("i2v", "started")).has_value());
  ASSERT_TRUE(go.Write());
  EXPECT_EQ(reader.Wait(), 0);
  EXPECT_EQ(writer->GetValue("from_reader").value(), "yes");
}

TEST(StoreSqlite, SurvivesWriterExitingWithoutClose) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  Child writer([&] {
    auto store = SqliteStore::Open(path);
    if (!store) return 10;
    if (!(*store)->PutInstance(Instance("i2v", 4242))) return 11;
    if (!(*store)->AppendEvent(Event("i2v", "started"))) return 12;
    ::_exit(0);  // with the store open: never closed, the WAL never checkpointed
  });
  ASSERT_EQ(writer.Wait(), 0);
  EXPECT_TRUE(fs::exists(path + "-wal"));
  auto store = MustOpenStore(path);
  EXPECT_EQ(store->ListInstances().value().size(), 1u);
  EXPECT_EQ(store->LastEvent("i2v").value().value().kind, "started");
}

TEST(StoreSqlite, SurvivesSigkillOfTheWriter) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  Pipe written;
  Child writer([&] {
    written.CloseRead();
    auto store = SqliteStore::Open(path);
    if (!store) return 10;
    for (int i = 0; i < 50; ++i) {
      if (!(*store)->AppendEvent(Event("i2v", "started"))) return 11;
    }
    if (!(*store)->PutInstance(Instance("i2v", 4242))) return 12;
    written.Write();
    ::pause();  // holds the database open until SIGKILL
    return 13;
  });
  written.CloseWrite();
  ASSERT_TRUE(written.Read());
  ASSERT_EQ(::kill(writer.pid(), SIGKILL), 0);
  ASSERT_EQ(writer.Wait(), 128 + SIGKILL);
  auto store = MustOpenStore(path);
  EXPECT_EQ(store->ListInstances().value().size(), 1u);
  EXPECT_EQ(store->ListEvents({.limit = 1000}).value().size(), 50u);
  EXPECT_EQ(store->AppendEvent(Event("i2v", "reaped")).value(), 51);
}

TEST(StoreSqlite, PrunesOldEventsByIdThreshold) {
  TempDir dir;
  auto store = MustOpenStore(dir.File("state.db"), {.max_events = 10, .prune_every = 5});
  for (int i = 0; i < 33; ++i) ASSERT_TRUE(store->AppendEvent(Event("i2v", "x")).has_value());
  auto events = store->ListEvents({.limit = 1000}).value();
  // Pruned at id 30 below id 21; 31..33 came after.
  ASSERT_EQ(events.size(), 13u);
  EXPECT_EQ(events.front().id, 21);
  EXPECT_EQ(events.back().id, 33);
}

TEST(StoreSqlite, EventDataWithInvalidUtf8IsStoredWithReplacement) {
  TempDir dir;
  auto store = MustOpenStore(dir.File("state.db"));
  EventRecord e = Event("i2v", "crashed");
  e.data = {{"line", std::string("bad \xff byte")}};
  ASSERT_TRUE(store->AppendEvent(e).has_value());
  EXPECT_EQ(store->LastEvent("i2v").value().value().data["line"], "bad \xEF\xBF\xBD byte");
}

TEST(StoreSqlite, ConcurrentWritersOnOneStoreGetDistinctIds) {
  TempDir dir;
  auto store = MustOpenStore(dir.File("state.db"));
  std::vector<std::int64_t> a, b;
  auto append = [&](std::vector<std::int64_t>& ids) {
    for (int i = 0; i < 100; ++i) ids.push_back(store->AppendEvent(Event("i2v", "x")).value_or(-1));
  };
  std::thread t1(append, std::ref(a));
  std::thread t2(append, std::ref(b));
  t1.join();
  t2.join();
  std::set<std::int64_t> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 200u);
  EXPECT_FALSE(all.contains(-1));
}

}  // namespace
}  // namespace vg
