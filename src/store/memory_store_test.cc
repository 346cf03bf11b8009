// The fake's own switch: an armed failure is returned once, by the next write, which changes
// nothing. (Its StateStore semantics are pinned by store_behaviour_test.cc.)
#include "store/memory_store.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

TEST(StoreMemory, FailNextWriteFailsOnceAndChangesNothing) {
  MemoryStore store;
  store.fail_next_write = Error{ErrorCode::kIo, "disk full", ""};
  auto put = store.PutValue("k", "v");
  ASSERT_FALSE(put.has_value());
  EXPECT_EQ(put.error().message, "disk full");
  EXPECT_FALSE(store.fail_next_write.has_value());
  EXPECT_EQ(store.GetValue("k").value(), std::nullopt);
  EXPECT_EQ(store.writes(), 0);

  ASSERT_TRUE(store.PutValue("k", "v").has_value());
  EXPECT_EQ(store.writes(), 1);
}

TEST(StoreMemory, EveryWriteHonoursTheSwitch) {
  MemoryStore store;
  ASSERT_TRUE(store.PutInstance({.service = "i2v", .tag = "t"}).has_value());
  const Error e{ErrorCode::kIo, "boom", ""};

  store.fail_next_write = e;
  EXPECT_FALSE(store.PutInstance({.service = "llm", .tag = "u"}).has_value());
  store.fail_next_write = e;
  EXPECT_FALSE(store.RemoveInstance("i2v").has_value());
  EXPECT_EQ(store.ListInstances().value().size(), 1u);

  store.fail_next_write = e;
  EXPECT_FALSE(store.AppendEvent({.kind = "started"}).has_value());
  EXPECT_TRUE(store.ListEvents({}).value().empty());
  // A failed append consumes no id.
  EXPECT_EQ(store.AppendEvent({.kind = "started"}).value(), 1);
}

TEST(StoreMemory, ReadsIgnoreTheSwitch) {
  MemoryStore store;
  store.fail_next_write = Error{ErrorCode::kIo, "boom", ""};
  EXPECT_TRUE(store.ListInstances().has_value());
  EXPECT_TRUE(store.ListEvents({}).has_value());
  EXPECT_TRUE(store.GetValue("k").has_value());
  EXPECT_TRUE(store.fail_next_write.has_value());
}

}  // namespace
}  // namespace vg
