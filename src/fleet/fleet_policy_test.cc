// The fleet's pure decisions: size classes, which classes a host reads by its budget, takeover,
// entry fields, host info, and the [fleet] config table.
#include "fleet/fleet_policy.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_values.h"

namespace vg::fleet {
namespace {

std::vector<std::string> FleetClassNames(const std::vector<SizeClass>& classes) {
  std::vector<std::string> out;
  for (const SizeClass& c : classes) out.emplace_back(c.name);
  return out;
}

TEST(FleetPolicy, AJobGoesToTheSmallestClassThatHoldsIt) {
  EXPECT_EQ(ClassFor(Bytes::GiB(3))->name, "le4g");
  EXPECT_EQ(ClassFor(Bytes::GiB(4))->name, "le4g");
  EXPECT_EQ(ClassFor(Bytes::GiB(4) + Bytes(1))->name, "le8g");
  EXPECT_EQ(ClassFor(Bytes(0))->name, "le1g");
  EXPECT_EQ(ClassFor(Bytes::GiB(70))->name, "le80g");
  EXPECT_FALSE(ClassFor(Bytes::GiB(257)));
  // A host that can hold 21 GiB reads classes up to le20g: a 20.5 GiB job (le24g) is not for it.
  EXPECT_EQ(ReadableLimit(Bytes::GiB(21)), Bytes::GiB(20));
  EXPECT_EQ(ReadableLimit(Bytes::GiB(24)), Bytes::GiB(24));
  EXPECT_EQ(ReadableLimit(Bytes::MiB(900)), Bytes());
  EXPECT_EQ(StreamName("video", *ClassFor(Bytes::GiB(30))), "vg:jobs:video:le32g");
  auto parsed = ParseStreamName("vg:jobs:my:svc:le32g");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->service, "my:svc");
  EXPECT_EQ(parsed->size_class.name, "le32g");
  EXPECT_EQ(parsed->band, Band::kNormal);
  EXPECT_FALSE(ParseStreamName("vg:jobs:svc:le33g"));
  EXPECT_FALSE(ParseStreamName("vg:jobs:svc:le33g:hi"));
  EXPECT_FALSE(ParseStreamName("vg:jobs:hi"));
  EXPECT_FALSE(ParseStreamName("vg:dead"));
}

TEST(FleetPolicy, AJobRecordReadsAsJsonWithItsNumbersAndResult) {
  nlohmann::json j = JobRecordJson("gpu-a-1-1", {{"state", "done"},
                                                 {"host", "gpu-b"},
                                                 {"local_id", "17"},
                                                 {"estimate_bytes", "4294967296"},
                                                 {"observed_peak_bytes", "not a number"},
                                                 {"updated_unix_ms", "1733250000000"},
                                                 {"result", R"({"frames":16})"},
                                                 {"reason", "42"}});
  EXPECT_EQ(j["fleet_job"], "gpu-a-1-1");
  EXPECT_EQ(j["local_id"], 17);
  EXPECT_EQ(j["estimate_bytes"], 4294967296LL);
  EXPECT_EQ(j["observed_peak_bytes"], "not a number");  // kept as written, never a wrong number
  EXPECT_EQ(j["updated_unix_ms"], 1733250000000LL);
  EXPECT_EQ(j["result"]["frames"], 16);
  EXPECT_EQ(j["reason"], "42");  // text fields stay text
  EXPECT_EQ(JobRecordJson("x", {{"result", "plain text"}})["result"], "plain text");
  EXPECT_TRUE(FinalState("done"));
  EXPECT_TRUE(FinalState("dead"));
  EXPECT_FALSE(FinalState("taken"));
  EXPECT_FALSE(FinalState("queued"));
  EXPECT_TRUE(ValidJobId("gpu-a-1733250000000-1"));
  EXPECT_FALSE(ValidJobId(""));
  EXPECT_FALSE(ValidJobId("has space"));
  EXPECT_FALSE(ValidJobId(std::string(129, 'a')));
  EXPECT_FALSE(ValidJobId("tab\there"));
}

TEST(FleetPolicy, AnIdempotencyKeyWhoseJobNeverGotQueuedIsStaleAfterTheGrace) {
  EXPECT_EQ(IdemValue("gpu-a-17-1", 1733250000000), "gpu-a-17-1 1733250000000");
  IdemHolder h = ParseIdemValue("gpu-a-17-1 1733250000000");
  EXPECT_EQ(h.job, "gpu-a-17-1");
  EXPECT_EQ(h.unix_ms, 1733250000000);
  IdemHolder old = ParseIdemValue("gpu-a-17-1");  // no time: written by hand or an older host
  EXPECT_EQ(old.job, "gpu-a-17-1");
  EXPECT_EQ(old.unix_ms, 0);
  EXPECT_EQ(ParseIdemValue("a job x").job, "a job x");  // a last word that is not a time
  const std::int64_t t = h.unix_ms;
  EXPECT_FALSE(StaleIdemClaim(h, true, t + 86400000));          // its job exists: a duplicate
  EXPECT_FALSE(StaleIdemClaim(h, false, t + 1000));             // being submitted right now
  EXPECT_FALSE(StaleIdemClaim(h, false, t + kIdemGraceMs));     // … up to the grace
  EXPECT_TRUE(StaleIdemClaim(h, false, t + kIdemGraceMs + 1));  // its XADD never happened
  EXPECT_TRUE(StaleIdemClaim(old, false, t));
}

TEST(FleetPolicy, PriorityBandsHaveStreamsOfTheirOwnReadHighFirst) {
  EXPECT_EQ(BandFor(1), Band::kHigh);
  EXPECT_EQ(BandFor(1000), Band::kHigh);
  EXPECT_EQ(BandFor(0), Band::kNormal);
  EXPECT_EQ(BandFor(-1), Band::kLow);
  const SizeClass c16 = *ClassFor(Bytes::GiB(16));
  const SizeClass c4 = *ClassFor(Bytes::GiB(4));
  EXPECT_EQ(StreamName("i2v", c16, Band::kHigh), "vg:jobs:i2v:le16g:hi");
  EXPECT_EQ(StreamName("i2v", c16, Band::kLow), "vg:jobs:i2v:le16g:lo");
  for (Band b : kBands) {
    auto back = ParseStreamName(StreamName("a:b", c16, b));
    ASSERT_TRUE(back) << BandName(b);
    EXPECT_EQ(back->service, "a:b");
    EXPECT_EQ(back->size_class.name, "le16g");
    EXPECT_EQ(back->band, b);
  }
  // A service may itself end in ":hi" only if the class follows: "svc:hi" + class parses as such.
  auto odd = ParseStreamName("vg:jobs:svc:hi:le4g");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->service, "svc:hi");
  EXPECT_EQ(odd->band, Band::kNormal);
  // Every high stream before any normal one, every normal before any low; largest class first
  // within a band (as ClassesToRead gave them).
  EXPECT_EQ(PullOrder("i2v", {c16, c4}),
            (std::vector<std::string>{"vg:jobs:i2v:le16g:hi", "vg:jobs:i2v:le4g:hi",
                                      "vg:jobs:i2v:le16g", "vg:jobs:i2v:le4g",
                                      "vg:jobs:i2v:le16g:lo", "vg:jobs:i2v:le4g:lo"}));
  EXPECT_TRUE(PullOrder("i2v", {}).empty());
}

TEST(FleetPolicy, AHostReadsOnlyClassesItCanHoldAndItsLedgerAdmitsNow) {
  // A 24 GiB card with 1 GiB reserve and a 2 GiB service baseline: 21 GiB for a job.
  const Bytes capacity = Bytes::GiB(21);
  // Its ledger admits up to 9 GiB now (another job runs).
  auto could = [](Bytes b) { return b <= Bytes::GiB(9); };
  EXPECT_EQ(FleetClassNames(ClassesToRead(capacity, true, could)),
            (std::vector<std::string>{"le8g", "le4g", "le2g", "le1g"}));
  // Everything free: up to its capacity's class, never le24g (a 22 GiB job would not fit).
  auto all = [](Bytes) { return true; };
  auto classes = ClassesToRead(capacity, true, all);
  ASSERT_FALSE(classes.empty());
  EXPECT_EQ(classes.front().name, "le20g");
  // An 80 GiB host reads le80g first: the jobs only it can hold.
  EXPECT_EQ(ClassesToRead(Bytes::GiB(80), true, all).front().name, "le80g");
  // Jobs waiting here already: take nothing new.
  EXPECT_TRUE(ClassesToRead(capacity, false, all).empty());
  // The ledger admits nothing: read nothing.
  EXPECT_TRUE(ClassesToRead(capacity, true, [](Bytes) { return false; }).empty());
}

TEST(FleetPolicy, TakeoverRunsIdempotentJobsAgainAndFailsTheOthers) {
  auto run = DecideTakeover(2, 3, true, "gpu-a");
  EXPECT_EQ(run.action, TakeoverAction::kRun);
  auto lost = DecideTakeover(2, 3, false, "gpu-a");
  EXPECT_EQ(lost.action, TakeoverAction::kHostLost);
  EXPECT_NE(lost.reason.find("host lost: gpu-a"), std::string::npos);
  auto dead = DecideTakeover(4, 3, true, "gpu-b");
  EXPECT_EQ(dead.action, TakeoverAction::kDead);
  EXPECT_NE(dead.reason.find("delivered 4 times"), std::string::npos);
  EXPECT_TRUE(OverDelivered(4, 3));
  EXPECT_FALSE(OverDelivered(3, 3));
}

TEST(FleetPolicy, EntriesRoundTripAndMalformedOnesSayWhy) {
  JobEntry e;
  e.job = "gpu-a-1733250000000-1";
  e.service = "video";
  e.params = {{"resolution", 1024}, {"frames", 16}};
  e.priority = 5;
  e.estimate = Bytes::GiB(30);
  e.idempotent = true;
  e.idempotency_key = "user-42";
  e.submitted_by = "gpu-a";
  e.submitted_unix_ms = 1733250000000;
  auto back = DecodeEntry(EncodeEntry(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->job, e.job);
  EXPECT_EQ(back->params, e.params);
  EXPECT_EQ(back->priority, 5);
  EXPECT_EQ(back->estimate, Bytes::GiB(30));
  EXPECT_TRUE(back->idempotent);
  EXPECT_EQ(back->idempotency_key, "user-42");

  // What a plain producer writes: job, service, params; the rest defaults.
  auto plain = DecodeEntry({{"job", "p-1"}, {"service", "video"}, {"params", "{}"}, {"x", "y"}});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->idempotent);
  EXPECT_EQ(plain->priority, 0);

  EXPECT_FALSE(DecodeEntry({{"service", "video"}}));
  EXPECT_FALSE(DecodeEntry({{"job", "p"}, {"service", "v"}, {"params", "[1]"}}));
  EXPECT_FALSE(DecodeEntry({{"job", "p"}, {"service", "v"}, {"priority", "high"}}));
  EXPECT_FALSE(DecodeEntry({{"job", "p"}, {"service", "v"}, {"idempotent", "yes"}}));
  Fields many;
  for (int i = 0; i < 17; ++i) many.emplace_back("f" + std::to_string(i), "v");
  EXPECT_FALSE(DecodeEntry(many));
}

TEST(FleetPolicy, TheLargestRegisteredHostSetsTheFleetsLimit) {
  HostInfo a;
  a.host = "a";
  a.capacity["video"] = Bytes::GiB(21);
  a.gpus.push_back({0, Bytes::GiB(24), Bytes::GiB(20)});
  HostInfo b;
  b.host = "b";
  b.capacity["video"] = Bytes::GiB(77);
  b.capacity["llm"] = Bytes::GiB(77);
  auto parsed = ParseHostInfo(HostInfoJson(a).dump());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->capacity.at("video"), Bytes::GiB(21));
  EXPECT_EQ(parsed->gpus.at(0).total, Bytes::GiB(24));
  EXPECT_EQ(*LargestCapacity({*parsed, b}, "video"), Bytes::GiB(77));
  EXPECT_FALSE(LargestCapacity({*parsed}, "llm"));
  EXPECT_FALSE(ParseHostInfo("[]"));
  EXPECT_FALSE(ParseHostInfo("{\"gpus\":[]}"));
}

TEST(FleetPolicy, ReconnectBacksOffToFiveSeconds) {
  EXPECT_EQ(ReconnectDelay(0), Millis(100));
  EXPECT_EQ(ReconnectDelay(1), Millis(200));
  EXPECT_EQ(ReconnectDelay(5), Millis(3200));
  EXPECT_EQ(ReconnectDelay(6), Millis(5000));
  EXPECT_EQ(ReconnectDelay(100), Millis(5000));
}

TEST(FleetConfig, RedisUrlsAreReadStrictly) {
  auto full = ParseRedisUrl("redis://app:s3cret@redis.lan:6380/2");
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->host, "redis.lan");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->db, 2);
  EXPECT_EQ(full->user, "app");
  EXPECT_EQ(full->password, "s3cret");
  auto bare = ParseRedisUrl("redis://127.0.0.1");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 6379);
  EXPECT_EQ(bare->db, 0);
  auto v6 = ParseRedisUrl("redis://[::1]:7000/0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  auto tls = ParseRedisUrl("rediss://redis.lan:6380");
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.error().hint.find("tunnel"), std::string::npos);
  for (const char* bad :
       {"http://x", "redis://", "redis://h:0", "redis://h:70000", "redis://h:/0", "redis://h/",
        "redis://h/db", "redis://h/0?x=1", "redis://user@h", "redis://h h", "redis://[::1"}) {
    EXPECT_FALSE(ParseRedisUrl(bad)) << bad;
  }
}

TEST(FleetConfig, TheFleetTableNeedsRedisAndHostAndSaysWhere) {
  auto ok = ParseConfig(
      "[fleet]\nredis = \"redis://127.0.0.1:6390/1\"\nhost = \"gpu-a\"\nlease = \"10s\"\n"
      "max_deliveries = 5\n",
      "/tmp/vg.toml");
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->fleet.enabled);
  EXPECT_EQ(ok->fleet.redis_port, 6390);
  EXPECT_EQ(ok->fleet.redis_db, 1);
  EXPECT_EQ(ok->fleet.host, "gpu-a");
  EXPECT_EQ(ok->fleet.lease, Millis(10000));
  EXPECT_EQ(ok->fleet.max_deliveries, 5);

  auto none = ParseConfig("", "/tmp/vg.toml");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->fleet.enabled);

  auto bad = ParseConfig(
      "[fleet]\nredis = \"rediss://r:1\"\nhost = \"a b\"\nlease = \"1ms\"\n"
      "colour = 1\n",
      "/tmp/vg.toml");
  ASSERT_FALSE(bad);
  std::vector<std::string> lines;
  for (const ConfigDiagnostic& d : bad.error()) lines.push_back(d.ToString());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[0].find("/tmp/vg.toml:2:9: 'fleet.redis'"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("/tmp/vg.toml:3:8: 'fleet.host'"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("/tmp/vg.toml:4:9: 'fleet.lease'"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("colour"), std::string::npos) << lines[3];

  auto missing = ParseConfig("[fleet]\n", "/tmp/vg.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().size(), 2u);
}

}  // namespace
}  // namespace vg::fleet
