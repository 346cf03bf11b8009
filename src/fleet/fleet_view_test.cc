// `vramguard fleet` (cli/fleet_client.h) over the fake: hosts, queues per stream, dead letters.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/fleet_client.h"
#include "fleet/fleet_policy.h"
#include "testing/memory_fleet_store.h"

namespace vg {
namespace {

TEST(FleetView, HostsQueuesAndDeadLettersAsRedisHoldsThem) {
  testing::MemoryFleetStore store;
  fleet::HostInfo h;
  h.host = "gpu-a";
  h.seen_unix_ms = 1000;
  h.gpus.push_back({0, Bytes::GiB(24), Bytes::GiB(10)});
  h.capacity["i2v"] = Bytes::GiB(13);
  h.running = 1;
  ASSERT_TRUE(store.PutHash(fleet::HostKey("gpu-a"), {{"info", fleet::HostInfoJson(h).dump()}},
                            Millis(30000)));
  const std::string s = fleet::StreamName("i2v", *fleet::ClassFor(Bytes::GiB(5)));
  ASSERT_TRUE(store.EnsureGroup(s));
  fleet::JobEntry e;
  e.service = "i2v";
  for (const char* id : {"j1", "j2", "j3"}) {
    e.job = id;
    ASSERT_TRUE(store.Add(s, fleet::EncodeEntry(e)));
  }
  auto taken = store.ReadNew(s, "gpu-a");
  ASSERT_TRUE(taken && *taken);
  auto dead = store.ReadNew(s, "gpu-a");
  ASSERT_TRUE(store.DeadLetter(**dead, "delivered 4 times"));

  auto view = ReadFleet(store, 3000);
  ASSERT_TRUE(view) << view.error().message;
  ASSERT_EQ((*view)["hosts"].size(), 1u);
  EXPECT_EQ((*view)["hosts"][0]["host"], "gpu-a");
  EXPECT_EQ((*view)["hosts"][0]["seen_s_ago"], 2.0);
  ASSERT_EQ((*view)["queues"].size(), 1u);
  EXPECT_EQ((*view)["queues"][0]["stream"], "vg:jobs:i2v:le8g");
  EXPECT_EQ((*view)["queues"][0]["waiting"], 1);
  EXPECT_EQ((*view)["queues"][0]["pending"], 1);
  EXPECT_EQ((*view)["dead_letters"], 1);
  EXPECT_EQ((*view)["dead_recent"][0]["reason"], "delivered 4 times");

  std::ostringstream out;
  RenderFleet(*view, out);
  EXPECT_NE(out.str().find("1 host alive"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("i2v jobs up to 13.0 GiB"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("vg:jobs:i2v:le8g"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("dead letters: 1"), std::string::npos) << out.str();

  store.SetDown(true);
  auto down = ReadFleet(store, 3000);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace vg
