// The FleetStore contract, run against the fake and a real redis-server started by the test
// (skipped, with the reason, where redis-server is not installed): what the fake promises,
// Redis does.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "fleet/fleet_store.h"
#include "fleet/redis_fleet_store.h"
#include "testing/memory_fleet_store.h"
#include "testing/redis_server.h"

namespace vg::fleet {
namespace {

class FleetStoreBehaviour : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      server_ = std::make_unique<vg::testing::RedisServer>();
      if (!server_->available()) GTEST_SKIP() << server_->why();
      store_ = std::make_unique<RedisFleetStore>(server_->Endpoint());
      other_ = std::make_unique<RedisFleetStore>(server_->Endpoint());
    } else {
      auto fake = std::make_shared<vg::testing::MemoryFleetStore>();
      fake_ = fake.get();
      shared_fake_ = fake;
      store_ = std::make_unique<SharedFake>(fake);
      other_ = std::make_unique<SharedFake>(fake);
    }
  }
  // Real time on Redis, the fake's own otherwise.
  void Wait(Millis d) {
    if (fake_)
      fake_->Advance(d);
    else
      std::this_thread::sleep_for(d);
  }

  // Two handles on one fake, as two hosts have two connections to one Redis.
  class SharedFake final : public FleetStore {
   public:
    explicit SharedFake(std::shared_ptr<vg::testing::MemoryFleetStore> f) : f_(std::move(f)) {}
    Result<void> Ping() override { return f_->Ping(); }
    Result<void> EnsureGroup(const std::string& s) override { return f_->EnsureGroup(s); }
    Result<std::string> Add(const std::string& s, const Fields& f) override {
      return f_->Add(s, f);
    }
    Result<std::optional<StreamEntry>> ReadFirstNew(const std::vector<std::string>& s,
                                                    const std::string& c) override {
      return f_->ReadFirstNew(s, c);
    }
    Result<std::vector<StreamEntry>> ReadOwnPending(const std::string& s, const std::string& c,
                                                    std::size_t n) override {
      return f_->ReadOwnPending(s, c, n);
    }
    Result<void> Ack(const std::string& s, const std::string& id) override {
      return f_->Ack(s, id);
    }
    Result<std::vector<std::string>> Renew(const std::string& s, const std::string& c,
                                           const std::vector<std::string>& ids) override {
      return f_->Renew(s, c, ids);
    }
    Result<std::vector<StreamEntry>> TakeOver(const std::string& s, const std::string& c,
                                              Millis idle, std::size_t n) override {
      return f_->TakeOver(s, c, idle, n);
    }
    Result<void> DeadLetter(const StreamEntry& e, const std::string& r) override {
      return f_->DeadLetter(e, r);
    }
    Result<std::optional<std::string>> ClaimKey(const std::string& k, const std::string& v,
                                                Millis ttl) override {
      return f_->ClaimKey(k, v, ttl);
    }
    Result<bool> SwapKey(const std::string& k, const std::string& e, const std::string& v,
                         Millis ttl) override {
      return f_->SwapKey(k, e, v, ttl);
    }
    Result<void> PutHash(const std::string& k, const Fields& f, Millis ttl) override {
      return f_->PutHash(k, f, ttl);
    }
    Result<Fields> GetHash(const std::string& k) override { return f_->GetHash(k); }
    Result<std::vector<std::string>> Keys(const std::string& p, std::size_t m) override {
      return f_->Keys(p, m);
    }
    Result<StreamStats> Stats(const std::string& s) override { return f_->Stats(s); }
    Result<std::vector<StreamEntry>> Recent(const std::string& s, std::size_t n) override {
      return f_->Recent(s, n);
    }
    Result<std::int64_t> Length(const std::string& s) override { return f_->Length(s); }
    Result<void> NoteRecent(const std::string& j, std::int64_t ms) override {
      return f_->NoteRecent(j, ms);
    }
    Result<std::vector<std::string>> RecentJobs(std::size_t n) override {
      return f_->RecentJobs(n);
    }

   private:
    std::shared_ptr<vg::testing::MemoryFleetStore> f_;
  };

  std::unique_ptr<vg::testing::RedisServer> server_;
  std::shared_ptr<vg::testing::MemoryFleetStore> shared_fake_;
  vg::testing::MemoryFleetStore* fake_ = nullptr;
  std::unique_ptr<FleetStore> store_;  // host "a"
  std::unique_ptr<FleetStore> other_;  // host "b"
};

Fields FleetTestJobFields(const std::string& job) {
  JobEntry e;
  e.job = job;
  e.service = "svc";
  e.params = {{"frames", 8}};
  e.estimate = Bytes::GiB(3);
  return EncodeEntry(e);
}

const std::string kBehaviourStream = "vg:jobs:svc:le4g";

TEST_P(FleetStoreBehaviour, ReadFirstNewTakesTheFirstStreamWithWorkInTheOrderGiven) {
  const std::string hi = "vg:jobs:svc:le4g:hi", lo = "vg:jobs:svc:le4g:lo";
  const std::string missing = "vg:jobs:svc:le8g";
  const std::vector<std::string> order = {missing, hi, kBehaviourStream, lo};
  // A plain producer's XADDs: the streams exist, their group does not yet.
  ASSERT_TRUE(store_->Add(lo, FleetTestJobFields("low")));
  ASSERT_TRUE(store_->Add(kBehaviourStream, FleetTestJobFields("n1")));
  auto a = store_->ReadFirstNew(order, "a");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->stream, kBehaviourStream);
  EXPECT_EQ(FieldOf((*a)->fields, "job"), "n1");
  EXPECT_EQ((*a)->deliveries, 1);
  ASSERT_TRUE(store_->Add(hi, FleetTestJobFields("h1")));  // arrives later, read first
  auto b = other_->ReadFirstNew(order, "b");
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->stream, hi);
  EXPECT_EQ(FieldOf((*b)->fields, "job"), "h1");
  auto c = store_->ReadFirstNew(order, "a");
  ASSERT_TRUE(c && *c);
  EXPECT_EQ(FieldOf((*c)->fields, "job"), "low");
  auto none = other_->ReadFirstNew(order, "b");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  // The missing stream was skipped, not created; each read entry is pending with its reader.
  auto len = store_->Length(missing);
  ASSERT_TRUE(len);
  EXPECT_EQ(*len, 0);
  auto st = store_->Stats(lo);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pending, 1);
  auto renewed = store_->Renew(lo, "a", {(*c)->id});
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->size(), 1u);
  auto empty = store_->ReadFirstNew({}, "a");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_value());
}

TEST_P(FleetStoreBehaviour, RecentJobsListsTheLatestChangesFirst) {
  ASSERT_TRUE(store_->NoteRecent("j1", 100));
  ASSERT_TRUE(other_->NoteRecent("j2", 300));
  ASSERT_TRUE(store_->NoteRecent("j3", 200));
  ASSERT_TRUE(store_->NoteRecent("j1", 400));  // changed again: moves to the front
  auto two = other_->RecentJobs(2);
  ASSERT_TRUE(two);
  EXPECT_EQ(*two, (std::vector<std::string>{"j1", "j2"}));
  auto all = store_->RecentJobs(10);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<std::string>{"j1", "j2", "j3"}));
  auto none = store_->RecentJobs(0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(FleetStoreBehaviour, EachEntryGoesToOneHostInOrder) {
  ASSERT_TRUE(store_->EnsureGroup(kBehaviourStream));
  ASSERT_TRUE(store_->EnsureGroup(kBehaviourStream));  // twice is fine
  ASSERT_TRUE(store_->Add(kBehaviourStream, FleetTestJobFields("j1")));
  ASSERT_TRUE(store_->Add(kBehaviourStream, FleetTestJobFields("j2")));
  auto a = store_->ReadNew(kBehaviourStream, "a");
  auto b = other_->ReadNew(kBehaviourStream, "b");
  auto none = other_->ReadNew(kBehaviourStream, "b");
  ASSERT_TRUE(a && *a && b && *b && none);
  EXPECT_EQ(FieldOf((*a)->fields, "job"), "j1");
  EXPECT_EQ(FieldOf((*b)->fields, "job"), "j2");
  EXPECT_EQ((*a)->deliveries, 1);
  EXPECT_FALSE(none->has_value());
  auto stats = store_->Stats(kBehaviourStream);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->pending, 2);
  EXPECT_EQ(stats->waiting, 0);
  ASSERT_TRUE(store_->Ack(kBehaviourStream, (*a)->id));
  stats = store_->Stats(kBehaviourStream);
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(*store_->Length(kBehaviourStream), 1);  // acknowledged entries leave the stream
}

TEST_P(FleetStoreBehaviour, RenewKeepsTheLeaseWithoutCountingADelivery) {
  ASSERT_TRUE(store_->EnsureGroup(kBehaviourStream));
  ASSERT_TRUE(store_->Add(kBehaviourStream, FleetTestJobFields("j1")));
  auto a = store_->ReadNew(kBehaviourStream, "a");
  ASSERT_TRUE(a && *a);
  const std::string id = (*a)->id;
  for (int i = 0; i < 3; ++i) {
    Wait(Millis(120));
    auto renewed = store_->Renew(kBehaviourStream, "a", {id});
    ASSERT_TRUE(renewed);
    EXPECT_EQ(*renewed, std::vector<std::string>{id});
  }
  // Renewed within 200 ms each time: nothing to take over.
  auto taken = other_->TakeOver(kBehaviourStream, "b", Millis(200), 10);
  ASSERT_TRUE(taken);
  EXPECT_TRUE(taken->empty());
  // After a restart "a" finds it again with its one delivery.
  auto own = store_->ReadOwnPending(kBehaviourStream, "a", 10);
  ASSERT_TRUE(own);
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].deliveries, 1);
  EXPECT_EQ(FieldOf((*own)[0].fields, "job"), "j1");
}

TEST_P(FleetStoreBehaviour, ALapsedLeaseIsTakenOverOnceWithTheDeliveryCounted) {
  ASSERT_TRUE(store_->EnsureGroup(kBehaviourStream));
  ASSERT_TRUE(store_->Add(kBehaviourStream, FleetTestJobFields("j1")));
  auto a = store_->ReadNew(kBehaviourStream, "a");
  ASSERT_TRUE(a && *a);
  Wait(Millis(250));
  auto taken = other_->TakeOver(kBehaviourStream, "b", Millis(200), 10);
  ASSERT_TRUE(taken);
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].deliveries, 2);
  EXPECT_EQ((*taken)[0].previous_consumer, "a");
  EXPECT_EQ(FieldOf((*taken)[0].fields, "job"), "j1");
  // Now b's: a third host finds nothing idle, and a's renewal learns it lost the entry.
  auto again = store_->TakeOver(kBehaviourStream, "c", Millis(200), 10);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  auto renewed = store_->Renew(kBehaviourStream, "a", {(*a)->id});
  ASSERT_TRUE(renewed);
  EXPECT_TRUE(renewed->empty());
}

TEST_P(FleetStoreBehaviour, DeadLetterKeepsTheEntryAndTheReason) {
  ASSERT_TRUE(store_->EnsureGroup(kBehaviourStream));
  ASSERT_TRUE(store_->Add(kBehaviourStream, FleetTestJobFields("j9")));
  auto a = store_->ReadNew(kBehaviourStream, "a");
  ASSERT_TRUE(a && *a);
  ASSERT_TRUE(store_->DeadLetter(**a, "delivered 4 times"));
  EXPECT_EQ(*store_->Length(kBehaviourStream), 0);
  auto dead = store_->Recent(std::string(kDeadStream), 5);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(FieldOf((*dead)[0].fields, "job"), "j9");
  EXPECT_EQ(FieldOf((*dead)[0].fields, "dead_reason"), "delivered 4 times");
  EXPECT_EQ(FieldOf((*dead)[0].fields, "dead_stream"), kBehaviourStream);
}

TEST_P(FleetStoreBehaviour, AnIdempotencyKeyIsClaimedOnceFleetWide) {
  auto first = store_->ClaimKey(IdemKey("k1"), "a-1", Millis(60000));
  auto second = other_->ClaimKey(IdemKey("k1"), "b-7", Millis(60000));
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(first->has_value());
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ(**second, "a-1");
  // Compare and set: only over the value expected, deleted with an empty one.
  auto wrong = other_->SwapKey(IdemKey("k1"), "b-7", "b-8", Millis(60000));
  ASSERT_TRUE(wrong);
  EXPECT_FALSE(*wrong);
  auto swapped = other_->SwapKey(IdemKey("k1"), "a-1", "b-8", Millis(60000));
  ASSERT_TRUE(swapped);
  EXPECT_TRUE(*swapped);
  auto now = store_->ClaimKey(IdemKey("k1"), "a-2", Millis(60000));
  ASSERT_TRUE(now && now->has_value());
  EXPECT_EQ(**now, "b-8");
  auto released = other_->SwapKey(IdemKey("k1"), "b-8", "", Millis(0));
  ASSERT_TRUE(released && *released);
  auto again = store_->ClaimKey(IdemKey("k1"), "a-3", Millis(60000));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  auto missing = store_->SwapKey(IdemKey("nope"), "x", "y", Millis(60000));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_P(FleetStoreBehaviour, HostRecordsExpireWithoutAHeartbeat) {
  ASSERT_TRUE(store_->PutHash(HostKey("a"), {{"info", "{}"}}, Millis(150)));
  ASSERT_TRUE(other_->PutHash(HostKey("b"), {{"info", "{}"}}, Millis(60000)));
  auto keys = store_->Keys("vg:host:*", 10);
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, (std::vector<std::string>{"vg:host:a", "vg:host:b"}));
  Wait(Millis(300));
  keys = store_->Keys("vg:host:*", 10);
  EXPECT_EQ(*keys, (std::vector<std::string>{"vg:host:b"}));
  auto h = store_->GetHash(HostKey("b"));
  ASSERT_TRUE(h);
  EXPECT_EQ(FieldOf(*h, "info"), "{}");
}

TEST(FleetStoreRedisDown, CallsFailAsUnavailableAndReconnectLater) {
  vg::testing::RedisServer server;
  if (!server.available()) GTEST_SKIP() << server.why();
  RedisEndpoint ep = server.Endpoint();
  ep.port = server.port() == 65535 ? 65534 : server.port() + 1;  // nothing listens there
  RedisFleetStore down(ep);
  auto r = down.Ping();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("Redis at 127.0.0.1:"), std::string::npos);
  RedisFleetStore up(server.Endpoint());
  EXPECT_TRUE(up.Ping());
  EXPECT_TRUE(up.connected());
}

INSTANTIATE_TEST_SUITE_P(Stores, FleetStoreBehaviour, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Redis" : "Memory"; });

}  // namespace
}  // namespace vg::fleet
