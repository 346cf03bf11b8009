#include "daemon/telemetry.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

namespace vg {
namespace {

constexpr std::int64_t kGiBytes = std::int64_t{1} << 30;

VramSample TelemetrySampleWith(std::size_t foreign, std::int64_t used) {
  VramSample s;
  GpuHoldings g;
  g.gpu.index = 0;
  g.gpu.uuid = "GPU-0";
  g.gpu.name = "Sim";
  g.gpu.total = Bytes(80 * kGiBytes);
  g.gpu.used = Bytes(used);
  g.holders.push_back({VramHolding::Kind::kService, "svc-a", 0, Bytes(10 * kGiBytes)});
  g.holders.push_back({VramHolding::Kind::kGhost, "", 4321, Bytes(2 * kGiBytes)});
  for (std::size_t i = 0; i < foreign; ++i)
    g.holders.push_back({VramHolding::Kind::kForeign, "python", static_cast<pid_t>(1000 + i),
                         Bytes(static_cast<std::int64_t>(i + 1) << 20)});
  s.gpus.push_back(std::move(g));
  s.members["svc-a"] = 3;
  return s;
}

struct TelemetryRig {
  boost::asio::io_context io;
  std::int64_t now = 1'000'000;
  std::size_t foreign = 0;
  int calls = 0;
  Telemetry t{io,
              [this] {
                ++calls;
                return TelemetrySampleWith(foreign, 12 * kGiBytes);
              },
              Telemetry::Options{.interval = Millis(2000),
                                 .window = Millis(3600 * 1000),
                                 .now_ms = [this] { return now; }}};
};

TEST(Telemetry, HistoryNamesEveryHolderOldestFirst) {
  TelemetryRig rig;
  rig.foreign = 1;
  rig.t.SampleNow();
  rig.now += 2000;
  rig.t.SampleNow();
  const nlohmann::json h = rig.t.History(Millis(3600 * 1000));
  EXPECT_EQ(h["interval_ms"], 2000);
  ASSERT_EQ(h["gpus"].size(), 1u);
  EXPECT_EQ(h["gpus"][0]["uuid"], "GPU-0");
  EXPECT_EQ(h["gpus"][0]["total_bytes"], 80 * kGiBytes);
  ASSERT_EQ(h["samples"].size(), 2u);
  EXPECT_LT(h["samples"][0]["t_ms"], h["samples"][1]["t_ms"]);
  const nlohmann::json& holders = h["samples"][1]["gpus"][0]["holders"];
  ASSERT_EQ(holders.size(), 3u);  // largest first
  EXPECT_EQ(holders[0]["name"], "svc-a");
  EXPECT_EQ(holders[0]["kind"], "service");
  EXPECT_EQ(holders[1]["name"], "ghost pid 4321");
  EXPECT_EQ(holders[1]["kind"], "ghost");
  EXPECT_EQ(holders[2]["name"], "python (pid 1000)");
  EXPECT_EQ(holders[2]["kind"], "foreign");
  EXPECT_EQ(h["samples"][1]["gpus"][0]["used_bytes"], 12 * kGiBytes);
}

TEST(Telemetry, ManyHoldersAreCappedAndTheRestSummedAsOther) {
  TelemetryRig rig;
  rig.foreign = 40;
  rig.t.SampleNow();
  const nlohmann::json holders = rig.t.History(Millis(60000))["samples"][0]["gpus"][0]["holders"];
  ASSERT_EQ(holders.size(), kMaxHoldersPerGpu + 1);
  EXPECT_EQ(holders.back()["name"], "other");
  EXPECT_EQ(holders.back()["kind"], "other");
  std::int64_t total = 0;
  for (const auto& h : holders) total += h["bytes"].get<std::int64_t>();
  std::int64_t expected = 12 * kGiBytes;  // service + ghost
  for (int i = 1; i <= 40; ++i) expected += std::int64_t{i} << 20;
  EXPECT_EQ(total, expected);  // nothing is lost by the cap
}

TEST(Telemetry, RingKeepsOnlyTheWindowAndHistoryHonoursTheSpan) {
  TelemetryRig rig;
  for (int i = 0; i < 2000; ++i) {  // more than an hour of 2 s samples
    rig.t.SampleNow();
    rig.now += 2000;
  }
  EXPECT_EQ(rig.t.size(), 1800u);
  rig.now -= 2000;                                                 // the last sample's time
  EXPECT_EQ(rig.t.History(Millis(60000))["samples"].size(), 31u);  // the last minute, both ends
  const auto first = rig.t.History(Millis(3600 * 1000))["samples"][0]["t_ms"].get<std::int64_t>();
  EXPECT_GE(first, rig.now - 3600 * 1000);
}

TEST(Telemetry, MemoryIsBoundedByTheWindowNotByUptime) {
  TelemetryRig rig;
  rig.foreign = 40;  // the worst case per GPU: the cap applies
  for (int i = 0; i < 1800; ++i) {
    rig.t.SampleNow();
    rig.now += 2000;
  }
  const std::size_t full = rig.t.MemoryBytes();
  for (int i = 0; i < 1800; ++i) {
    rig.t.SampleNow();
    rig.now += 2000;
  }
  EXPECT_EQ(rig.t.MemoryBytes(), full);
  EXPECT_LT(full, std::size_t{4} << 20) << "one GPU, 17 holders per sample, one hour";
}

TEST(Telemetry, StartSamplesAtOnceAndThenEveryInterval) {
  boost::asio::io_context io;
  int calls = 0;
  Telemetry t(
      io,
      [&] {
        ++calls;
        return TelemetrySampleWith(0, 0);
      },
      Telemetry::Options{.interval = Millis(10)});
  t.Start();
  EXPECT_EQ(calls, 1);
  io.run_for(std::chrono::milliseconds(55));
  EXPECT_GE(calls, 3);
  t.Stop();
  const int after = calls;
  io.restart();
  io.run_for(std::chrono::milliseconds(30));
  EXPECT_EQ(calls, after);
  ASSERT_NE(t.latest(), nullptr);
  EXPECT_EQ(t.latest()->members.at("svc-a"), 3u);
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

TEST(Telemetry, BacksOffWhileNothingChangesAndNobodyWatches) {
  boost::asio::io_context io;
  std::int64_t now = 5'000'000;
  std::int64_t used = 1;
  int calls = 0;
  Telemetry t(
      io,
      [&] {
        ++calls;
        return TelemetrySampleWith(0, used);
      },
      Telemetry::Options{
          .interval = Millis(1), .now_ms = [&] { return now; }, .idle_max = Millis(8)});
  t.Start();
  EXPECT_EQ(t.next_gap(), Millis(1));
  std::vector<std::int64_t> gaps;
  for (int i = 0; i < 5; ++i) {
    io.run_one();  // one timer: one sample, the same as before
    gaps.push_back(t.next_gap().count());
  }
  EXPECT_EQ(gaps, (std::vector<std::int64_t>{2, 4, 8, 8, 8}));
  used = 2;  // memory moved: back to the interval at once
  io.run_one();
  EXPECT_EQ(t.next_gap(), Millis(1));
  io.run_one();  // unchanged again
  EXPECT_EQ(t.next_gap(), Millis(2));
}

TEST(Telemetry, AWatcherKeepsTheIntervalAndGetsAFreshSampleAfterAGap) {
  boost::asio::io_context io;
  std::int64_t now = 5'000'000;
  int calls = 0;
  Telemetry t(
      io,
      [&] {
        ++calls;
        return TelemetrySampleWith(0, 7);
      },
      Telemetry::Options{
          .interval = Millis(1), .now_ms = [&] { return now; }, .idle_max = Millis(8)});
  t.Start();
  for (int i = 0; i < 3; ++i) io.run_one();
  EXPECT_EQ(t.next_gap(), Millis(8));
  const int before = calls;
  now += 5;  // the latest sample is older than the interval
  t.Watch();
  EXPECT_EQ(calls, before + 1) << "a watcher after an idle gap gets a fresh sample";
  EXPECT_EQ(t.next_gap(), Millis(1));
  for (int i = 0; i < 3; ++i) {
    io.run_one();
    EXPECT_EQ(t.next_gap(), Millis(1)) << "watched within kWatchHold: no back-off";
  }
  now += Telemetry::kWatchHold.count();
  io.run_one();
  EXPECT_EQ(t.next_gap(), Millis(2)) << "the watcher left: back-off resumes";
}

}  // namespace
}  // namespace vg
