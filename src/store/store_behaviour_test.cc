// The StateStore contract, run against both implementations: what the fake promises, production
// keeps (state_store.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/memory_store.h"
#include "store/sqlite_store.h"
#include "store/state_store.h"
#include "store/store_test_util.h"

namespace vg {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

template <class Store>
std::unique_ptr<StateStore> MakeStore(const store_test::TempDir& dir, std::int64_t max_events);

template <>
std::unique_ptr<StateStore> MakeStore<MemoryStore>(const store_test::TempDir&,
                                                   std::int64_t max_events) {
  return std::make_unique<MemoryStore>(max_events);
}

template <>
std::unique_ptr<StateStore> MakeStore<SqliteStore>(const store_test::TempDir& dir,
                                                   std::int64_t max_events) {
  // Prune on every append so both stores keep exactly max_events.
  auto store = SqliteStore::Open(dir.File("state.db"),
                                 SqliteStore::Options{.max_events = max_events, .prune_every = 1});
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

template <class Store>
class StoreBehaviour : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MakeStore<Store>(dir_, kMaxEvents);
    ASSERT_NE(store_, nullptr);
  }

  std::int64_t Append(const std::string& service, const std::string& kind,
                      const std::string& message = "m") {
    auto id = store_->AppendEvent(EventRecord{.time_unix_ms = 1700000000000,
                                              .service = service,
                                              .instance = service + "-1",
                                              .kind = kind,
                                              .message = message});
    EXPECT_TRUE(id.has_value()) << id.error().message;
    return id.value_or(-1);
  }

  std::vector<std::int64_t> Ids(const EventFilter& filter) {
    auto events = store_->ListEvents(filter);
    EXPECT_TRUE(events.has_value()) << events.error().message;
    std::vector<std::int64_t> ids;
    for (const auto& e : events.value_or(std::vector<EventRecord>{})) ids.push_back(e.id);
    return ids;
  }

  store_test::TempDir dir_;
  std::unique_ptr<StateStore> store_;
};

using StoreTypes = ::testing::Types<MemoryStore, SqliteStore>;
class StoreNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryStore> ? "Memory" : "Sqlite";
  }
};
TYPED_TEST_SUITE(StoreBehaviour, StoreTypes, StoreNames);

InstanceRecord Instance(const std::string& service, const std::string& tag, pid_t pid) {
  return InstanceRecord{.service = service,
                        .tag = tag,
                        .pid = pid,
                        .start_time = (std::uint64_t{1} << 40) + 7,
                        .cgroup = "/sys/fs/cgroup/vramguard/" + service,
                        .started_unix_ms = 1700000000123,
                        .fingerprint = "sha256:abc"};
}

TYPED_TEST(StoreBehaviour, StartsEmpty) {
  EXPECT_THAT(this->store_->ListInstances().value(), IsEmpty());
  EXPECT_THAT(this->store_->ListEvents({}).value(), IsEmpty());
  EXPECT_EQ(this->store_->LastEvent("i2v").value(), std::nullopt);
  EXPECT_EQ(this->store_->GetValue("k").value(), std::nullopt);
}

TYPED_TEST(StoreBehaviour, InstanceRoundTripsEveryField) {
  const InstanceRecord in = Instance("i2v", "i2v-7f3a", 4242);
  ASSERT_TRUE(this->store_->PutInstance(in).has_value());
  EXPECT_THAT(this->store_->ListInstances().value(), ElementsAre(in));
}

TYPED_TEST(StoreBehaviour, PutInstanceReplacesTheServicesInstance) {
  ASSERT_TRUE(this->store_->PutInstance(Instance("i2v", "i2v-1", 100)).has_value());
  InstanceRecord second = Instance("i2v", "i2v-2", 200);
  second.cgroup = "";
  ASSERT_TRUE(this->store_->PutInstance(second).has_value());
  EXPECT_THAT(this->store_->ListInstances().value(), ElementsAre(second));
}

TYPED_TEST(StoreBehaviour, InstancesAreListedByServiceName) {
  for (const char* name : {"comfy", "llm", "i2v"}) {
    ASSERT_TRUE(this->store_->PutInstance(Instance(name, std::string(name) + "-t", 1)).has_value());
  }
  std::vector<std::string> names;
  const std::vector<InstanceRecord> instances = this->store_->ListInstances().value();
  for (const auto& i : instances) names.push_back(i.service);
  EXPECT_THAT(names, ElementsAre("comfy", "i2v", "llm"));
}

TYPED_TEST(StoreBehaviour, TagBelongsToOneService) {
  ASSERT_TRUE(this->store_->PutInstance(Instance("i2v", "shared-tag", 1)).has_value());
  auto clash = this->store_->PutInstance(Instance("llm", "shared-tag", 2));
  ASSERT_FALSE(clash.has_value());
  EXPECT_EQ(clash.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(clash.error().message, ::testing::HasSubstr("shared-tag"));
  EXPECT_THAT(clash.error().message, ::testing::HasSubstr("i2v"));  // names the owner
  ASSERT_EQ(this->store_->ListInstances().value().size(), 1u);
  // The same service may record its own tag again (a restart of the same instance record).
  EXPECT_TRUE(this->store_->PutInstance(Instance("i2v", "shared-tag", 3)).has_value());
}

TYPED_TEST(StoreBehaviour, RemoveInstanceRemovesOnlyThatServiceAndToleratesAbsence) {
  ASSERT_TRUE(this->store_->PutInstance(Instance("i2v", "a", 1)).has_value());
  ASSERT_TRUE(this->store_->PutInstance(Instance("llm", "b", 2)).has_value());
  ASSERT_TRUE(this->store_->RemoveInstance("i2v").has_value());
  EXPECT_TRUE(this->store_->RemoveInstance("never-existed").has_value());
  auto left = this->store_->ListInstances().value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].service, "llm");
  // The removed service's tag is free again.
  EXPECT_TRUE(this->store_->PutInstance(Instance("comfy", "a", 3)).has_value());
}

TYPED_TEST(StoreBehaviour, AppendEventAssignsIncreasingIdsAndKeepsEveryField) {
  EventRecord e{.id = 999,  // ignored
                .time_unix_ms = 1700000000456,
                .service = "i2v",
                .instance = "i2v-7f3a",
                .kind = "crashed",
                .message = "i2v crashed: exit status 1",
                .data = {{"exit_code", 1},
                         {"last_lines", {"CUDA out of memory", "Traceback"}},
                         {"freed_bytes", std::uint64_t{15032385536}}}};
  const std::int64_t first = this->store_->AppendEvent(e).value();
  const std::int64_t second = this->Append("i2v", "started");
  EXPECT_GT(second, first);
  EXPECT_NE(first, 999);

  auto events = this->store_->ListEvents({}).value();
  ASSERT_EQ(events.size(), 2u);
  e.id = first;
  EXPECT_EQ(events[0], e);
  EXPECT_EQ(events[1].id, second);
  EXPECT_TRUE(events[1].data.is_null());
}

TYPED_TEST(StoreBehaviour, ListEventsReturnsTheNewestLimitOldestFirst) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(this->Append("i2v", "started"));
  EXPECT_THAT(this->Ids({.limit = 3}), ElementsAre(ids[2], ids[3], ids[4]));
  EXPECT_THAT(this->Ids({.limit = 100}), ElementsAre(ids[0], ids[1], ids[2], ids[3], ids[4]));
}

TYPED_TEST(StoreBehaviour, ListEventsFiltersByAfterIdServiceAndKind) {
  const auto a1 = this->Append("i2v", "started");
  const auto b1 = this->Append("llm", "started");
  const auto a2 = this->Append("i2v", "crashed");
  const auto b2 = this->Append("llm", "crashed");
  const auto d = this->Append("", "config");
  EXPECT_THAT(this->Ids({.after_id = a2}), ElementsAre(b2, d));
  EXPECT_THAT(this->Ids({.service = "i2v"}), ElementsAre(a1, a2));
  EXPECT_THAT(this->Ids({.kind = "crashed"}), ElementsAre(a2, b2));
  EXPECT_THAT(this->Ids({.service = "llm", .kind = "started"}), ElementsAre(b1));
  EXPECT_THAT(this->Ids({.after_id = b1, .service = "i2v"}), ElementsAre(a2));
  EXPECT_THAT(this->Ids({.after_id = a1, .kind = "started", .limit = 1}), ElementsAre(b1));
  EXPECT_THAT(this->Ids({.after_id = d}), IsEmpty());
  EXPECT_THAT(this->Ids({.service = "absent"}), IsEmpty());
}

TYPED_TEST(StoreBehaviour, LimitAppliesAfterFiltering) {
  std::vector<std::int64_t> crashes;
  for (int i = 0; i < 4; ++i) {
    crashes.push_back(this->Append("i2v", "crashed"));
    this->Append("i2v", "started");
  }
  EXPECT_THAT(this->Ids({.kind = "crashed", .limit = 2}), ElementsAre(crashes[2], crashes[3]));
}

TYPED_TEST(StoreBehaviour, RejectsLimitBelowOne) {
  this->Append("i2v", "started");
  for (int limit : {0, -1}) {
    auto events = this->store_->ListEvents({.limit = limit});
    ASSERT_FALSE(events.has_value());
    EXPECT_EQ(events.error().code, ErrorCode::kInvalidArgument);
  }
}

TYPED_TEST(StoreBehaviour, LastEventIsTheNewestOfThatService) {
  this->Append("i2v", "started", "first");
  this->Append("i2v", "ready", "second");
  const auto newest = this->Append("llm", "started", "other service");
  auto last = this->store_->LastEvent("i2v").value();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->kind, "ready");
  EXPECT_EQ(last->message, "second");
  EXPECT_EQ(this->store_->LastEvent("absent").value(), std::nullopt);
  EXPECT_EQ(this->store_->LastEvent("").value().value().id, newest);
}

TYPED_TEST(StoreBehaviour, KeepsTheNewestEventsAndNeverReusesIds) {
  this->store_.reset();  // one store per file
  this->store_ = MakeStore<TypeParam>(this->dir_, 5);
  ASSERT_NE(this->store_, nullptr);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(this->Append("i2v", "started"));
  EXPECT_THAT(this->Ids({.limit = 100}), ElementsAre(ids[7], ids[8], ids[9], ids[10], ids[11]));
  EXPECT_GT(this->Append("i2v", "started"), ids[11]);
}

TYPED_TEST(StoreBehaviour, ValuesAreOpaqueBytesByKey) {
  const std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(this->store_->PutValue("k", binary).has_value());
  ASSERT_TRUE(this->store_->PutValue("empty", "").has_value());
  EXPECT_EQ(this->store_->GetValue("k").value(), binary);
  EXPECT_EQ(this->store_->GetValue("empty").value(), std::string());  // present, not absent
  ASSERT_TRUE(this->store_->PutValue("k", "v2").has_value());
  EXPECT_EQ(this->store_->GetValue("k").value(), "v2");
  EXPECT_EQ(this->store_->GetValue("absent").value(), std::nullopt);
}

}  // namespace
}  // namespace vg
