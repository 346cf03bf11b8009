// What only the SQLite job store can get wrong: reopening, migrating an older file, several
// threads and connections at once, and keeping every acknowledged submit through a SIGKILL.
#include "store/sqlite_job_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_schema.h"
#include "store/sqlite_store.h"
#include "store/store_test_util.h"

namespace vg {
namespace {

using store_test::Child;
using store_test::TempDir;
using S = JobState;

JobRecord Job(const std::string& service, const std::string& key = "") {
  JobRecord job{.service = service,
                .params = {{"width", 512}},
                .submitted_unix_ms = 1700000000000,
                .estimate_bytes = Bytes::GiB(8),
                .idempotent = true};
  if (!key.empty()) job.idempotency_key = key;
  return job;
}

std::unique_ptr<SqliteJobStore> MustOpenJobStore(const std::string& path,
                                                 SqliteJobStore::Options options = {}) {
  auto store = SqliteJobStore::Open(path, options);
  EXPECT_TRUE(store.has_value()) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

std::int64_t Total(JobStore& store) {
  std::int64_t n = 0;
  const JobCounts counts = store.Counts("").value();
  for (std::int64_t c : counts.by_state) n += c;
  return n;
}

TEST(JobStoreSqlite, ReopenKeepsJobsAndIdsKeepIncreasing) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  JobId first = 0;
  {
    auto store = MustOpenJobStore(path);
    JobRecord job = Job("i2v", "k");
    job.payload = "bytes";
    first = store->Submit(job).value().job.id;
    ASSERT_TRUE(store->Transition(first, {S::kQueued}, S::kStarting, {}).value().applied);
  }
  auto store = MustOpenJobStore(path, {.synchronous = SqliteJobStore::Synchronous::kFull});
  JobRecord got = store->Get(first).value();
  EXPECT_EQ(got.state, S::kStarting);
  EXPECT_EQ(got.payload, "bytes");
  EXPECT_TRUE(store->Submit(Job("i2v", "k")).value().duplicate);
  EXPECT_GT(store->Submit(Job("i2v")).value().job.id, first);
}

// A state file written before the job queue existed gains its tables and keeps its data.
TEST(JobStoreSqlite, SubmitAndAnnounceStoresTheJobAndItsEventTogether) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = MustOpenJobStore(path);
  auto events = SqliteStore::Open(path).value();
  ASSERT_TRUE(events->AppendEvent(EventRecord{.service = "a", .kind = "started"}).has_value());
  int calls = 0;
  JobAnnouncer announce = [&](const JobRecord& j) -> std::optional<EventRecord> {
    ++calls;
    return EventRecord{.time_unix_ms = 5,
                       .service = j.service,
                       .kind = "job-queued",
                       .message = "job " + std::to_string(j.id) + " queued",
                       .data = {{"job", j.id}}};
  };
  auto out = store->SubmitAndAnnounce(Job("a", "k1"), announce);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  ASSERT_TRUE(out->event.has_value());
  EXPECT_EQ(out->event->id, 2);  // after the event the other connection wrote
  EXPECT_EQ(store->Get(out->job.id)->state, S::kQueued);
  auto listed = events->ListEvents(EventFilter{.after_id = 1}).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], *out->event);
  EXPECT_EQ(listed[0].message, "job " + std::to_string(out->job.id) + " queued");
  // A duplicate stores nothing, so announces nothing.
  auto dup = store->SubmitAndAnnounce(Job("a", "k1"), announce);
  ASSERT_TRUE(dup.has_value());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_FALSE(dup->event.has_value());
  EXPECT_EQ(calls, 1);
  // A failing write rolls back both: an over-cap payload stores neither job nor event.
  JobRecord big = Job("a");
  big.payload.assign(kMaxJobPayloadBytes + 1, 'x');
  EXPECT_FALSE(store->SubmitAndAnnounce(big, announce).has_value());
  EXPECT_EQ(Total(*store), 1);
  EXPECT_EQ(events->ListEvents(EventFilter{.after_id = 0}).value().size(), 2u);
}

TEST(JobStoreSqlite, SubmitBatchCommitsTheJobsAndEventsOfAGroupTogether) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = MustOpenJobStore(path);
  auto events = SqliteStore::Open(path).value();
  JobAnnouncer announce = [](const JobRecord& j) -> std::optional<EventRecord> {
    return EventRecord{
        .service = j.service, .kind = "job-queued", .message = "job " + std::to_string(j.id)};
  };
  JobRecord big = Job("a");
  big.payload.assign(kMaxJobPayloadBytes + 1, 'x');
  std::vector<JobSubmission> batch;
  batch.push_back({Job("a", "k"), announce});
  batch.push_back({big, announce});            // over the cap: fails alone
  batch.push_back({Job("a", "k"), announce});  // the same key again: a duplicate of the first
  batch.push_back({Job("b"), nullptr});        // no event
  auto out = store->SubmitBatch(std::move(batch));
  ASSERT_EQ(out.size(), 4u);
  ASSERT_TRUE(out[0].has_value()) << out[0].error().message;
  EXPECT_FALSE(out[0]->duplicate);
  ASSERT_TRUE(out[0]->event.has_value());
  EXPECT_EQ(out[0]->event->message, "job " + std::to_string(out[0]->job.id));
  EXPECT_EQ(out[1].error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(out[2].has_value());
  EXPECT_TRUE(out[2]->duplicate);
  EXPECT_EQ(out[2]->job.id, out[0]->job.id);
  EXPECT_FALSE(out[2]->event.has_value());
  ASSERT_TRUE(out[3].has_value());
  EXPECT_GT(out[3]->job.id, out[0]->job.id);
  EXPECT_FALSE(out[3]->event.has_value());
  EXPECT_EQ(Total(*store), 2);
  auto listed = events->ListEvents(EventFilter{}).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], *out[0]->event);

  // A batch whose transaction cannot start (another connection holds the write lock past the
  // busy timeout) stores nothing and fails every job of it.
  auto quick = MustOpenJobStore(path, SqliteJobStore::Options{.busy_timeout_ms = 50});
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<JobSubmission> blocked;
  blocked.push_back({Job("c"), announce});
  blocked.push_back({Job("c"), announce});
  auto failed = quick->SubmitBatch(std::move(blocked));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_FALSE(failed[0].has_value());
  EXPECT_FALSE(failed[1].has_value());
  EXPECT_EQ(Total(*store), 2);
}

TEST(JobStoreSqlite, MigratesAVersion1File) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string v1(SqliteMigrations()[0]);
    ASSERT_EQ(sqlite3_exec(db,
                           ("CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT;" + v1 +
                            "INSERT INTO schema_version VALUES (1);"
                            "INSERT INTO kv VALUES ('k', X'76');")
                               .c_str(),
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto jobs = MustOpenJobStore(path);
  ASSERT_NE(jobs, nullptr);
  EXPECT_EQ(jobs->Submit(Job("i2v")).value().job.id, 1);
  auto state = SqliteStore::Open(path);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ((*state)->GetValue("k").value(), "v");
  EXPECT_EQ(LatestSchemaVersion(), 4);
}

// Version 3 drops the index of jobs by state (issue 12): the queue a version 2 file holds is
// still read in order.
TEST(JobStoreSqlite, MigratesAVersion2FileAndItsQueueKeepsItsOrder) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string v1(SqliteMigrations()[0]), v2(SqliteMigrations()[1]);
    ASSERT_EQ(
        sqlite3_exec(db,
                     ("CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT;" + v1 + v2 +
                      "INSERT INTO schema_version VALUES (2);"
                      "INSERT INTO jobs (service, params, priority, idempotent, state, reason, "
                      "submitted_unix_ms, estimate_bytes, attempts, payload_bytes, payload) VALUES "
                      "('a', '{}', 0, 1, 'queued', '', 1, 1, 0, 0, X''), "
                      "('a', '{}', 5, 1, 'queued', '', 2, 1, 0, 0, X''), "
                      "('a', '{}', 0, 1, 'done', '', 3, 1, 1, 0, X'');")
                         .c_str(),
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  auto jobs = MustOpenJobStore(path);
  ASSERT_NE(jobs, nullptr);
  std::vector<JobId> order;
  const std::vector<JobRecord> queued = jobs->Queued("").value();
  for (const JobRecord& j : queued) order.push_back(j.id);
  EXPECT_EQ(order, (std::vector<JobId>{2, 1}));
  // Version 4's column: jobs from before it came from the API; a door job reads back as one.
  EXPECT_EQ(queued[0].origin, JobOrigin::kApi);
  JobRecord door = Job("a");
  door.origin = JobOrigin::kDoor;
  const JobId door_id = jobs->Submit(door).value().job.id;
  EXPECT_EQ(jobs->Get(door_id).value().origin, JobOrigin::kDoor);
  EXPECT_EQ(jobs->Counts("").value()[JobState::kDone], 1);
  EXPECT_EQ(jobs->Submit(Job("a")).value().job.id, 5);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs_by_state'", -1,
                         &q, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

// The daemon itself is single-threaded; a tool or benchmark may submit from several threads on
// one store, and other processes may open their own connection. Every submit lands once, and a
// compare-and-set has exactly one winner.
TEST(JobStoreSqlite, ThreadsAndConnectionsShareTheQueue) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto shared = MustOpenJobStore(path);
  auto other = MustOpenJobStore(path);
  constexpr int kPerThread = 100;
  std::vector<std::vector<JobId>> ids(3);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        JobStore& store = t == 2 ? *other : *shared;
        for (int i = 0; i < kPerThread; ++i) {
          auto out = store.Submit(Job("i2v", "t" + std::to_string(t) + "-" + std::to_string(i)));
          if (out) ids[t].push_back(out->job.id);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::set<JobId> all;
  for (const auto& v : ids) {
    EXPECT_EQ(v.size(), static_cast<std::size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // increasing within each submitter
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), 3u * kPerThread);
  EXPECT_EQ(Total(*shared), 3 * kPerThread);

  // Two connections race to start every job: each job starts exactly once.
  std::atomic<int> wins{0};
  {
    std::vector<std::thread> racers;
    for (SqliteJobStore* store : {shared.get(), other.get()}) {
      racers.emplace_back([&, store] {
        for (JobId id : all) {
          auto out = store->Transition(id, {S::kQueued}, S::kStarting, {});
          if (out && out->applied) ++wins;
        }
      });
    }
    for (auto& th : racers) th.join();
  }
  EXPECT_EQ(wins.load(), 3 * kPerThread);
  EXPECT_EQ(shared->Counts("").value()[S::kStarting], 3 * kPerThread);
  const std::vector<JobRecord> started = shared->List({.limit = 1000}).value();
  ASSERT_EQ(started.size(), 3u * kPerThread);
  for (const JobRecord& job : started) EXPECT_EQ(job.attempts, 1);
}

// The scenario: the daemon SIGKILLed under a stream of submissions. A child submits in a
// loop and reports each id on a pipe only after Submit returned; the parent kills it at a random
// moment, reopens the file, and finds every reported job, whole.
TEST(JobStoreSqlite, EveryAcknowledgedSubmitSurvivesSigkill) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    TempDir dir;
    const std::string path = dir.File("state.db");
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    Child child([&] {
      ::close(fds[0]);
      auto store = SqliteJobStore::Open(path);
      if (!store) return 2;
      for (std::int64_t i = 0;; ++i) {
        JobRecord job = Job("i2v", "key-" + std::to_string(i));
        job.payload = std::string(static_cast<std::size_t>(i % 4096), 'x');
        job.priority = static_cast<int>(i % 7);
        auto out = (*store)->Submit(job);
        if (!out) return 3;
        const JobId id = out->job.id;
        if (::write(fds[1], &id, sizeof id) != sizeof id) return 4;
      }
    });
    ::close(fds[1]);
    const int kill_after = std::uniform_int_distribution<int>(20, 400)(rng);
    std::vector<JobId> acked;
    bool killed = false;
    while (true) {
      JobId id = 0;
      const ssize_t n = ::read(fds[0], &id, sizeof id);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof id)) break;  // EOF: the child is gone
      acked.push_back(id);
      if (!killed && static_cast<int>(acked.size()) == kill_after) {
        // Somewhere inside a following Submit, at a random point.
        ::usleep(std::uniform_int_distribution<int>(0, 3000)(rng));
        ::kill(child.pid(), SIGKILL);
        killed = true;
      }
    }
    ::close(fds[0]);
    ASSERT_EQ(child.Wait(), 128 + SIGKILL) << "the child stopped on its own";
    ASSERT_GE(acked.size(), static_cast<std::size_t>(kill_after));

    auto store = MustOpenJobStore(path);
    ASSERT_NE(store, nullptr);
    for (std::size_t i = 0; i < acked.size(); ++i) {
      auto job = store->Get(acked[i]);
      ASSERT_TRUE(job.has_value()) << "acknowledged job " << acked[i] << " lost";
      EXPECT_EQ(job->idempotency_key, "key-" + std::to_string(i));
      EXPECT_EQ(job->payload.size(), i % 4096);
      EXPECT_EQ(job->state, S::kQueued);
    }
    // At most the one submit in flight at the kill may have landed unacknowledged.
    const std::int64_t total = Total(*store);
    EXPECT_GE(total, static_cast<std::int64_t>(acked.size()));
    EXPECT_LE(total, static_cast<std::int64_t>(acked.size()) + 1);
  }
}

// Issue 12: the WAL checkpoint is kept out of the commits and done as idle work.
std::uintmax_t WalBytes(const std::string& path) {
  std::error_code ec;
  const std::uintmax_t n = std::filesystem::file_size(path + "-wal", ec);
  return ec ? 0 : n;
}

TEST(JobStoreSqlite, CheckpointWaitsForIdleWorkBelowTheInlineLimit) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto store =
      MustOpenJobStore(path, {.wal_autocheckpoint_pages = 100000, .idle_checkpoint_pages = 50});
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->IdleWorkDue());
  int submitted = 0;
  while (!store->IdleWorkDue() && submitted < 1000) {
    ASSERT_TRUE(store->Submit(Job("a", "k" + std::to_string(submitted))));
    ++submitted;
  }
  ASSERT_TRUE(store->IdleWorkDue()) << submitted << " submits and no idle work";
  // Past SQLite's own 1,000 pages: still no checkpoint inside a commit.
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(store->Submit(Job("a", "m" + std::to_string(i))));
  submitted += 400;
  EXPECT_EQ(store->inline_checkpoints(), 0);
  EXPECT_GT(WalBytes(path), 1000u * 4096u);
  ASSERT_TRUE(store->DoIdleWork());
  EXPECT_FALSE(store->IdleWorkDue());
  // The next commit starts the log over: the work is not due again at once.
  ASSERT_TRUE(store->Submit(Job("a", "last")));
  EXPECT_FALSE(store->IdleWorkDue());
  EXPECT_EQ(Total(*store), submitted + 1);
  // Everything is in the file for another connection, and after a reopen.
  store.reset();
  auto again = MustOpenJobStore(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(Total(*again), submitted + 1);
}

TEST(JobStoreSqlite, CommitCheckpointsAtTheInlineLimitAndTheWalShrinksBack) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = MustOpenJobStore(path, {.wal_autocheckpoint_pages = 40,
                                       .idle_checkpoint_pages = 0,
                                       .wal_size_limit_bytes = 64 * 1024});
  ASSERT_TRUE(store);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(store->Submit(Job("a", std::to_string(i))));
  EXPECT_GT(store->inline_checkpoints(), 0);
  EXPECT_FALSE(store->IdleWorkDue());  // no idle work asked for
  EXPECT_LE(WalBytes(path), 64u * 1024u + 40u * 4200u);
  EXPECT_EQ(Total(*store), 200);
}

TEST(JobStoreSqlite, CheckpointOptionsAreChecked) {
  TempDir dir;
  EXPECT_FALSE(SqliteJobStore::Open(dir.File("a.db"), {.wal_autocheckpoint_pages = 0}));
  EXPECT_FALSE(SqliteJobStore::Open(dir.File("b.db"), {.idle_checkpoint_pages = -1}));
}

}  // namespace
}  // namespace vg
