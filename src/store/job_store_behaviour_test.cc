// The JobStore contract, run against both implementations: what the fake promises, production
// keeps (job_store.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/job_store.h"
#include "store/memory_job_store.h"
#include "store/sqlite_job_store.h"
#include "store/store_test_util.h"

namespace vg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using S = JobState;

constexpr std::int64_t kT0 = 1700000000000;

template <class Store>
std::unique_ptr<JobStore> MakeJobStore(const store_test::TempDir& dir);

template <>
std::unique_ptr<JobStore> MakeJobStore<MemoryJobStore>(const store_test::TempDir&) {
  return std::make_unique<MemoryJobStore>();
}

template <>
std::unique_ptr<JobStore> MakeJobStore<SqliteJobStore>(const store_test::TempDir& dir) {
  auto store = SqliteJobStore::Open(dir.File("state.db"));
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

JobRecord NewJob(const std::string& service, int priority = 0) {
  return JobRecord{.service = service,
                   .params = {{"width", 768}, {"frames", 24}},
                   .priority = priority,
                   .submitted_unix_ms = kT0,
                   .estimate_bytes = Bytes::GiB(12),
                   .idempotent = true};
}

template <class Store>
class JobStoreBehaviour : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MakeJobStore<Store>(dir_);
    ASSERT_NE(store_, nullptr);
  }

  JobId Submit(JobRecord job) {
    auto out = store_->Submit(std::move(job));
    EXPECT_TRUE(out.has_value()) << out.error().message;
    if (!out) return -1;
    EXPECT_FALSE(out->duplicate);
    return out->job.id;
  }
  JobId Submit(const std::string& service, int priority = 0) {
    return Submit(NewJob(service, priority));
  }

  // Moves a job along the states, each step expected to apply.
  void Move(JobId id, const std::vector<JobState>& path, const JobChange& change = {}) {
    JobState from = store_->Get(id).value().state;
    for (JobState to : path) {
      auto out = store_->Transition(id, {from}, to, change);
      ASSERT_TRUE(out.has_value()) << out.error().message;
      ASSERT_TRUE(out->applied) << JobStateName(from) << " -> " << JobStateName(to);
      from = to;
    }
  }
  void Finish(JobId id, JobState end, std::int64_t at = kT0) {
    Move(id, {S::kStarting, S::kRunning});
    Move(id, {end}, JobChange{.finished_unix_ms = at});
  }

  std::vector<JobId> Ids(const std::vector<JobRecord>& jobs) {
    std::vector<JobId> ids;
    for (const auto& j : jobs) ids.push_back(j.id);
    return ids;
  }
  std::vector<JobId> ListIds(const JobFilter& filter) {
    auto jobs = store_->List(filter);
    EXPECT_TRUE(jobs.has_value()) << jobs.error().message;
    return Ids(jobs.value_or(std::vector<JobRecord>{}));
  }
  std::vector<JobId> QueuedIds(const std::string& service = "") {
    auto jobs = store_->Queued(service);
    EXPECT_TRUE(jobs.has_value()) << jobs.error().message;
    return Ids(jobs.value_or(std::vector<JobRecord>{}));
  }
  std::int64_t Total() {
    std::int64_t n = 0;
    const JobCounts counts = store_->Counts("").value();
    for (std::int64_t c : counts.by_state) n += c;
    return n;
  }

  store_test::TempDir dir_;
  std::unique_ptr<JobStore> store_;
};

using JobStoreTypes = ::testing::Types<MemoryJobStore, SqliteJobStore>;
class JobStoreNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryJobStore> ? "Memory" : "Sqlite";
  }
};
TYPED_TEST_SUITE(JobStoreBehaviour, JobStoreTypes, JobStoreNames);

TYPED_TEST(JobStoreBehaviour, StartsEmpty) {
  EXPECT_THAT(this->QueuedIds(), IsEmpty());
  EXPECT_THAT(this->ListIds({}), IsEmpty());
  EXPECT_EQ(this->store_->Counts("").value(), JobCounts{});
  auto missing = this->store_->Get(1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TYPED_TEST(JobStoreBehaviour, SubmitAssignsIncreasingIdsAndKeepsEveryField) {
  JobRecord in = NewJob("i2v", 5);
  in.id = 999;  // ignored
  in.payload = std::string("\0\x01\xff binary", 10);
  in.idempotency_key = "client-42";
  in.idempotent = false;
  in.reason = "";
  in.params = {{"prompt", "a cat"}, {"steps", 80}, {"nested", {{"a", {1, 2}}}}};
  auto out = this->store_->Submit(in);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_FALSE(out->duplicate);
  EXPECT_NE(out->job.id, 999);
  const JobId second = this->Submit("i2v");
  EXPECT_GT(second, out->job.id);

  JobRecord expected = in;
  expected.id = out->job.id;
  expected.payload_bytes = 10;
  expected.attempts = 0;
  expected.result = nullptr;
  EXPECT_EQ(out->job, expected);
  EXPECT_EQ(this->store_->Get(out->job.id).value(), expected);
}

TYPED_TEST(JobStoreBehaviour, SubmitAcceptsOnlyNewStates) {
  JobRecord refused = NewJob("i2v");
  refused.state = S::kRefused;
  refused.reason = "needs ~21.5 GiB, 20.0 GiB plannable";
  refused.finished_unix_ms = kT0;
  const JobId id = this->Submit(refused);
  EXPECT_EQ(this->store_->Get(id).value().state, S::kRefused);
  EXPECT_EQ(this->store_->Get(id).value().finished_unix_ms, kT0);
  EXPECT_THAT(this->QueuedIds(), IsEmpty());

  for (JobState s : {S::kStarting, S::kRunning, S::kDone, S::kInterrupted}) {
    JobRecord bad = NewJob("i2v");
    bad.state = s;
    auto out = this->store_->Submit(bad);
    ASSERT_FALSE(out.has_value()) << JobStateName(s);
    EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
  }
  auto unnamed = this->store_->Submit(NewJob(""));
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(this->Total(), 1);
}

TYPED_TEST(JobStoreBehaviour, IdempotencyKeyReturnsTheExistingJobOfThatService) {
  JobRecord job = NewJob("i2v");
  job.idempotency_key = "k1";
  const JobId first = this->Submit(job);
  JobRecord again = job;
  again.params = {{"width", 1024}};  // a resubmission is not compared: the key decides
  auto dup = this->store_->Submit(again);
  ASSERT_TRUE(dup.has_value()) << dup.error().message;
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->job.id, first);
  EXPECT_EQ(dup->job.params, job.params);
  EXPECT_EQ(this->Total(), 1);

  // Keys are per service; jobs without a key never collide.
  JobRecord other = NewJob("llm");
  other.idempotency_key = "k1";
  EXPECT_NE(this->Submit(other), first);
  this->Submit("i2v");
  this->Submit("i2v");
  EXPECT_EQ(this->Total(), 4);

  // A finished job still answers for its key.
  this->Finish(first, S::kDone);
  dup = this->store_->Submit(job);
  ASSERT_TRUE(dup.has_value());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->job.state, S::kDone);
  EXPECT_EQ(this->Total(), 4);

  JobRecord empty_key = NewJob("i2v");
  empty_key.idempotency_key = "";
  EXPECT_EQ(this->store_->Submit(empty_key).error().code, ErrorCode::kInvalidArgument);
}

// The daemon looks a key up before it admits (a duplicate answers 200, never a refusal).
TYPED_TEST(JobStoreBehaviour, FindByKeyFindsTheJobSubmitWouldReturn) {
  JobRecord job = NewJob("i2v");
  job.idempotency_key = "k1";
  const JobId first = this->Submit(job);
  auto found = this->store_->FindByKey("i2v", "k1");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, first);
  EXPECT_EQ((*found)->params, job.params);
  EXPECT_FALSE(this->store_->FindByKey("llm", "k1")->has_value());  // keys are per service
  EXPECT_FALSE(this->store_->FindByKey("i2v", "k2")->has_value());
  this->Finish(first, S::kDone);
  EXPECT_EQ((*this->store_->FindByKey("i2v", "k1"))->state, S::kDone);
}

TYPED_TEST(JobStoreBehaviour, QueuedIsPriorityThenFifoAndOnlyQueued) {
  const JobId a = this->Submit("i2v", 0);
  const JobId b = this->Submit("llm", 10);
  const JobId c = this->Submit("i2v", 10);
  const JobId d = this->Submit("i2v", -5);
  const JobId e = this->Submit("i2v", 0);
  const JobId started = this->Submit("i2v", 100);
  this->Move(started, {S::kStarting});
  EXPECT_THAT(this->QueuedIds(), ElementsAre(b, c, a, e, d));
  EXPECT_THAT(this->QueuedIds("i2v"), ElementsAre(c, a, e, d));
  EXPECT_THAT(this->QueuedIds("absent"), IsEmpty());
  // Summaries: no payload or result, but its size.
  auto queued = this->store_->Queued("llm").value();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].params, NewJob("llm").params);
}

TYPED_TEST(JobStoreBehaviour, ListFiltersPagesAndReturnsSummaries) {
  JobRecord big = NewJob("i2v");
  big.payload = std::string(5000, 'x');
  const JobId a = this->Submit(big);
  const JobId b = this->Submit("llm");
  const JobId c = this->Submit("i2v");
  const JobId d = this->Submit("i2v");
  this->Finish(c, S::kDone);
  ASSERT_TRUE(this->store_->Transition(a, {S::kQueued}, S::kCancelled, {}).value().applied);

  EXPECT_THAT(this->ListIds({}), ElementsAre(a, b, c, d));
  EXPECT_THAT(this->ListIds({.limit = 2}), ElementsAre(a, b));
  EXPECT_THAT(this->ListIds({.after_id = b, .limit = 2}), ElementsAre(c, d));
  EXPECT_THAT(this->ListIds({.newest_first = true, .limit = 3}), ElementsAre(d, c, b));
  EXPECT_THAT(this->ListIds({.service = "i2v"}), ElementsAre(a, c, d));
  EXPECT_THAT(this->ListIds({.states = {S::kQueued}}), ElementsAre(b, d));
  EXPECT_THAT(this->ListIds({.states = {S::kDone, S::kCancelled}}), ElementsAre(a, c));
  EXPECT_THAT(this->ListIds({.states = {S::kQueued}, .service = "i2v"}), ElementsAre(d));
  EXPECT_THAT(this->ListIds({.states = {S::kRunning}}), IsEmpty());

  auto listed = this->store_->List({.limit = 1}).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].payload, "");
  EXPECT_EQ(listed[0].payload_bytes, 5000u);
  EXPECT_EQ(this->store_->Get(a).value().payload, big.payload);

  for (int limit : {0, -1}) {
    auto bad = this->store_->List({.limit = limit});
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  }
}

TYPED_TEST(JobStoreBehaviour, TransitionIsACompareAndSet) {
  const JobId id = this->Submit("i2v");
  auto start = this->store_->Transition(
      id, {S::kQueued}, S::kStarting,
      JobChange{.started_unix_ms = kT0 + 5, .gpu = 1, .estimate_bytes = Bytes::GiB(14)});
  ASSERT_TRUE(start.has_value()) << start.error().message;
  EXPECT_TRUE(start->applied);
  EXPECT_EQ(start->job.state, S::kStarting);
  EXPECT_EQ(start->job.attempts, 1);
  EXPECT_EQ(start->job.started_unix_ms, kT0 + 5);
  EXPECT_EQ(start->job.gpu, 1);
  EXPECT_EQ(start->job.estimate_bytes, Bytes::GiB(14));

  // Cancel raced the start: it expected queued and lost; the job is as found.
  auto cancel = this->store_->Transition(id, {S::kQueued}, S::kCancelled,
                                         JobChange{.reason = "cancelled by the user"});
  ASSERT_TRUE(cancel.has_value());
  EXPECT_FALSE(cancel->applied);
  EXPECT_EQ(cancel->job.state, S::kStarting);
  EXPECT_EQ(cancel->job.reason, "");
  EXPECT_EQ(this->store_->Get(id).value(), start->job);

  // One of several states; unset fields keep their values.
  auto run = this->store_->Transition(id, {S::kQueued, S::kStarting}, S::kRunning, {});
  ASSERT_TRUE(run.value().applied);
  EXPECT_EQ(run->job.gpu, 1);
  EXPECT_EQ(run->job.attempts, 1);  // only entering starting counts a run

  auto missing = this->store_->Transition(id + 100, {S::kQueued}, S::kStarting, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto nothing = this->store_->Transition(id, {}, S::kDone, {});
  ASSERT_FALSE(nothing.has_value());
  EXPECT_EQ(nothing.error().code, ErrorCode::kInvalidArgument);
}

TYPED_TEST(JobStoreBehaviour, TerminalJobsNeverChangeAgain) {
  for (JobState end : {S::kDone, S::kFailed, S::kCancelled}) {
    const JobId id = this->Submit("i2v");
    this->Move(id, {S::kStarting, S::kRunning});
    auto done = this->store_->Transition(id, {S::kRunning}, end,
                                         JobChange{.reason = "finished",
                                                   .finished_unix_ms = kT0 + 9,
                                                   .result = nlohmann::json{{"ok", true}}});
    ASSERT_TRUE(done.value().applied);
    EXPECT_EQ(done->job.result, (nlohmann::json{{"ok", true}}));
    const JobRecord final_record = done->job;

    // Every non-terminal `from` loses; naming a terminal `from` is refused outright.
    auto again = this->store_->Transition(
        id, {S::kQueued, S::kStarting, S::kRunning, S::kInterrupted}, S::kQueued, {});
    ASSERT_TRUE(again.has_value());
    EXPECT_FALSE(again->applied);
    auto direct = this->store_->Transition(id, {end}, S::kQueued, {});
    ASSERT_FALSE(direct.has_value());
    EXPECT_EQ(direct.error().code, ErrorCode::kInvalidArgument);
    auto result = this->store_->SetResult(id, {{"late", 1}});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kRefused);
    EXPECT_EQ(this->store_->RecoverAfterCrash(kT0).value().size(), 0u);
    EXPECT_EQ(this->store_->Get(id).value(), final_record);
  }
  // Refused happens only at submit.
  const JobId id = this->Submit("i2v");
  EXPECT_EQ(this->store_->Transition(id, {S::kQueued}, S::kRefused, {}).error().code,
            ErrorCode::kInvalidArgument);
}

TYPED_TEST(JobStoreBehaviour, ResultsAndObservationsAreKept) {
  const JobId id = this->Submit("i2v");
  this->Move(id, {S::kStarting, S::kRunning});
  const nlohmann::json answer = {{"video", "/out/1.mp4"}, {"seconds", 12.5}};
  ASSERT_TRUE(this->store_->SetResult(id, answer).has_value());
  ASSERT_TRUE(
      this->store_->RecordObservation(id, Bytes::GiB(13), PeakObservation::kAtMost).has_value());
  JobRecord got = this->store_->Get(id).value();
  EXPECT_EQ(got.result, answer);
  EXPECT_EQ(got.observed_peak_bytes, Bytes::GiB(13));
  EXPECT_EQ(got.observation_kind, PeakObservation::kAtMost);
  // Listing leaves the result out.
  EXPECT_TRUE(this->store_->List({}).value().at(0).result.is_null());

  // The observation may arrive after the job finished.
  this->Move(id, {S::kDone});
  ASSERT_TRUE(
      this->store_->RecordObservation(id, Bytes::GiB(14), PeakObservation::kExact).has_value());
  got = this->store_->Get(id).value();
  EXPECT_EQ(got.observed_peak_bytes, Bytes::GiB(14));
  EXPECT_EQ(got.observation_kind, PeakObservation::kExact);
  EXPECT_EQ(got.result, answer);

  EXPECT_EQ(this->store_->RecordObservation(id + 1, Bytes(1), PeakObservation::kExact).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(this->store_->SetResult(id + 1, 1).error().code, ErrorCode::kNotFound);
}

TYPED_TEST(JobStoreBehaviour, ObservedReturnsTheNewestObservationsOldestFirst) {
  std::vector<JobId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(this->Submit("i2v"));
  const JobId other = this->Submit("t2i");
  ASSERT_TRUE(
      this->store_->RecordObservation(other, Bytes::GiB(1), PeakObservation::kExact).has_value());
  // ids[1] carries none; ids[4] is an at-least (an OOM).
  ASSERT_TRUE(
      this->store_->RecordObservation(ids[0], Bytes::GiB(10), PeakObservation::kExact).has_value());
  ASSERT_TRUE(this->store_->RecordObservation(ids[2], Bytes::GiB(12), PeakObservation::kAtMost)
                  .has_value());
  ASSERT_TRUE(
      this->store_->RecordObservation(ids[3], Bytes::GiB(13), PeakObservation::kExact).has_value());
  ASSERT_TRUE(this->store_->RecordObservation(ids[4], Bytes::GiB(14), PeakObservation::kAtLeast)
                  .has_value());
  auto all = this->store_->Observed("i2v", 10).value();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].id, ids[0]);
  EXPECT_EQ(all[3].id, ids[4]);
  EXPECT_EQ(all[3].observation_kind, PeakObservation::kAtLeast);
  EXPECT_EQ(all[3].observed_peak_bytes, Bytes::GiB(14));
  EXPECT_EQ(all[1].params, this->store_->Get(ids[2]).value().params);
  auto newest = this->store_->Observed("i2v", 2).value();
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].id, ids[3]);
  EXPECT_EQ(newest[1].id, ids[4]);
  EXPECT_TRUE(this->store_->Observed("none", 5).value().empty());
  EXPECT_EQ(this->store_->Observed("i2v", 0).error().code, ErrorCode::kInvalidArgument);
}

TYPED_TEST(JobStoreBehaviour, PayloadParamsAndResultAreCapped) {
  JobRecord at_cap = NewJob("i2v");
  at_cap.payload.assign(kMaxJobPayloadBytes, 'p');
  const JobId id = this->Submit(at_cap);
  EXPECT_EQ(this->store_->Get(id).value().payload.size(), kMaxJobPayloadBytes);

  JobRecord over = NewJob("i2v");
  over.payload.assign(kMaxJobPayloadBytes + 1, 'p');
  auto refused = this->store_->Submit(over);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.error().message, HasSubstr("payload"));

  JobRecord big_params = NewJob("i2v");
  big_params.params = {{"prompt", std::string(kMaxJobParamsBytes, 'a')}};
  EXPECT_EQ(this->store_->Submit(big_params).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(this->Total(), 1);

  this->Move(id, {S::kStarting, S::kRunning});
  const nlohmann::json huge = {{"b64", std::string(kMaxJobResultBytes, 'r')}};
  auto set = this->store_->SetResult(id, huge);
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().code, ErrorCode::kInvalidArgument);
  auto done = this->store_->Transition(id, {S::kRunning}, S::kDone, JobChange{.result = huge});
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error().code, ErrorCode::kInvalidArgument);
  JobRecord still = this->store_->Get(id).value();
  EXPECT_EQ(still.state, S::kRunning);  // the oversized result changed nothing
  EXPECT_TRUE(still.result.is_null());
}

TYPED_TEST(JobStoreBehaviour, RecoverRequeuesIdempotentJobsAndFailsTheRest) {
  JobRecord once = NewJob("i2v");
  once.idempotent = false;
  const JobId queued = this->Submit("i2v");
  const JobId starting = this->Submit("i2v");
  const JobId running_once = this->Submit(once);
  const JobId interrupted = this->Submit("llm");
  const JobId done = this->Submit("i2v");
  this->Move(starting, {S::kStarting}, JobChange{.started_unix_ms = kT0 + 1, .gpu = 0});
  this->Move(running_once, {S::kStarting, S::kRunning}, JobChange{.started_unix_ms = kT0 + 2});
  this->Move(interrupted, {S::kStarting, S::kRunning, S::kInterrupted});
  this->Finish(done, S::kDone);

  const std::int64_t now = kT0 + 60000;
  auto recovered = this->store_->RecoverAfterCrash(now);
  ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
  ASSERT_EQ(recovered->size(), 3u);

  const RecoveredJob& r0 = (*recovered)[0];
  EXPECT_EQ(r0.job.id, starting);
  EXPECT_EQ(r0.was, S::kStarting);
  EXPECT_EQ(r0.job.state, S::kQueued);
  EXPECT_EQ(r0.job.reason, kReasonRequeued);
  EXPECT_EQ(r0.job.started_unix_ms, std::nullopt);
  EXPECT_EQ(r0.job.gpu, std::nullopt);
  EXPECT_EQ(r0.job.attempts, 1);

  const RecoveredJob& r1 = (*recovered)[1];
  EXPECT_EQ(r1.job.id, running_once);
  EXPECT_EQ(r1.was, S::kRunning);
  EXPECT_EQ(r1.job.state, S::kFailed);
  EXPECT_EQ(r1.job.reason, kReasonNotIdempotent);
  EXPECT_EQ(r1.job.finished_unix_ms, now);
  EXPECT_EQ(r1.job.started_unix_ms, kT0 + 2);  // kept: it did start

  EXPECT_EQ((*recovered)[2].job.id, interrupted);
  EXPECT_EQ((*recovered)[2].was, S::kInterrupted);
  EXPECT_EQ((*recovered)[2].job.state, S::kQueued);

  for (const RecoveredJob& r : *recovered) EXPECT_EQ(this->store_->Get(r.job.id).value(), r.job);
  EXPECT_EQ(this->store_->Get(queued).value().reason, "");
  EXPECT_EQ(this->store_->Get(done).value().state, S::kDone);
  // The re-queued job takes its FIFO place by id, ahead of later submissions.
  EXPECT_THAT(this->QueuedIds(), ElementsAre(queued, starting, interrupted));
  EXPECT_THAT(this->store_->RecoverAfterCrash(now).value(), IsEmpty());

  // Its next run counts as its second.
  this->Move(starting, {S::kStarting});
  EXPECT_EQ(this->store_->Get(starting).value().attempts, 2);
}

TYPED_TEST(JobStoreBehaviour, CountsPerStateAndService) {
  this->Submit("i2v");
  this->Submit("i2v");
  const JobId r = this->Submit("llm");
  const JobId d = this->Submit("i2v");
  this->Move(r, {S::kStarting, S::kRunning});
  this->Finish(d, S::kFailed);
  JobCounts all = this->store_->Counts("").value();
  EXPECT_EQ(all[S::kQueued], 2);
  EXPECT_EQ(all[S::kRunning], 1);
  EXPECT_EQ(all[S::kFailed], 1);
  EXPECT_EQ(all[S::kDone], 0);
  JobCounts llm = this->store_->Counts("llm").value();
  EXPECT_EQ(llm[S::kRunning], 1);
  EXPECT_EQ(llm[S::kQueued], 0);
  EXPECT_EQ(this->store_->Counts("absent").value(), JobCounts{});
}

TYPED_TEST(JobStoreBehaviour, PruneDeletesOnlyOldOrSurplusTerminalJobs) {
  const std::int64_t day = 24LL * 3600 * 1000;
  // An old queued and an old running job: never pruned, however old.
  const JobId old_queued = this->Submit("i2v");
  const JobId old_running = this->Submit("i2v");
  this->Move(old_running, {S::kStarting, S::kRunning});
  JobRecord keyed = NewJob("i2v");
  keyed.idempotency_key = "k";
  const JobId old_done = this->Submit(keyed);
  this->Finish(old_done, S::kDone, kT0);
  std::vector<JobId> fresh;
  for (int i = 0; i < 4; ++i) {
    fresh.push_back(this->Submit("i2v"));
    this->Finish(fresh.back(), S::kFailed, kT0 + 9 * day);
  }
  const JobRetention keep{.max_age_ms = 7 * day, .max_terminal_jobs = 3};
  auto pruned = this->store_->Prune(kT0 + 10 * day, keep);
  ASSERT_TRUE(pruned.has_value()) << pruned.error().message;
  EXPECT_EQ(*pruned, 2);  // the old one by age, the oldest fresh one by count
  EXPECT_THAT(this->ListIds({}),
              ElementsAre(old_queued, old_running, fresh[1], fresh[2], fresh[3]));
  EXPECT_EQ(this->store_->Get(old_done).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(this->store_->Prune(kT0 + 10 * day, keep).value(), 0);

  // A pruned job's key is free again, and ids are never reused.
  auto again = this->store_->Submit(keyed);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->duplicate);
  EXPECT_GT(again->job.id, fresh[3]);

  EXPECT_EQ(this->store_->Prune(kT0 + 10 * day, {.max_terminal_jobs = 0}).value(), 3);
  EXPECT_THAT(this->ListIds({}), ElementsAre(old_queued, old_running, again->job.id));
}

}  // namespace
}  // namespace vg
