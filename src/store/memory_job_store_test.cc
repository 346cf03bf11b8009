// The fake's own switch: an injected failure reaches the caller once and changes nothing.
#include "store/memory_job_store.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(MemoryJobStore, InjectedFailureChangesNothingAndFiresOnce) {
  MemoryJobStore store;
  const JobRecord job{.service = "i2v", .submitted_unix_ms = 1, .idempotent = true};
  const JobId id = store.Submit(job).value().job.id;
  ASSERT_EQ(store.writes(), 1);

  store.fail_next_write = Error{ErrorCode::kIo, "disk full", ""};
  auto failed = store.Transition(id, {JobState::kQueued}, JobState::kStarting, {});
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message, "disk full");
  EXPECT_EQ(store.Get(id).value().state, JobState::kQueued);
  EXPECT_EQ(store.writes(), 1);

  // Cleared: the next write goes through.
  EXPECT_TRUE(store.Transition(id, {JobState::kQueued}, JobState::kStarting, {}).value().applied);
  store.fail_next_write = Error{ErrorCode::kIo, "disk full", ""};
  EXPECT_FALSE(store.Submit(job).has_value());
  EXPECT_EQ(store.Counts("").value()[JobState::kQueued], 0);
  EXPECT_TRUE(store.Submit(job).has_value());
}

}  // namespace
}  // namespace vg
