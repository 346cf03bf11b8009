#include "daemon/door.h"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "daemon/event_hub.h"
#include "store/memory_store.h"
#include "testing/fake_service_port.h"

namespace vg {
namespace {

using State = ServicePort::State;

// One request's fate as the proxy would see it: forwarded (release with nullopt) or answered.
struct Fate {
  bool released = false;
  std::optional<HttpResponse> answer;
};

struct DoorWorld {
  boost::asio::io_context io;
  testing::FakeServicePort port;
  MemoryStore store;
  EventHub events{store, false};
  ProxySpec spec;
  std::unique_ptr<DoorPolicy> door;
  std::uint64_t next_id = 1;

  explicit DoorWorld(State initial, bool on_demand = true, Millis hold = std::chrono::minutes(5)) {
    ServiceConfig cfg;
    cfg.name = "webui";
    port.Add(cfg);
    port.Set("webui", initial);
    spec.start_on_demand = on_demand;
    spec.hold_timeout = hold;
    door = std::make_unique<DoorPolicy>(io, port, events, "webui", spec);
  }

  ProxyRequestHead Head(bool upgrade = false) {
    ProxyRequestHead h;
    h.id = next_id++;
    h.method = "POST";
    h.target = "/run/predict";
    h.client = "127.0.0.1";
    h.upgrade = upgrade;
    return h;
  }

  ProxyVerdict Send(const ProxyRequestHead& h, Fate* fate) {
    return door->Decide(h, [fate](std::optional<HttpResponse> r) {
      if (r) {
        fate->answer = std::move(r);
      } else {
        fate->released = true;
      }
    });
  }

  // The supervisor moved the service on and said so.
  void Becomes(State state, const std::string& kind, const std::string& detail = {}) {
    port.Set("webui", state, detail);
    events.Emit("webui", "", kind, kind + " " + detail);
    Drain();
  }

  void Drain() {
    io.restart();
    io.poll();
  }

  int Count(const std::string& kind) {
    auto all = store.ListEvents(EventFilter{});
    int n = 0;
    if (all) {
      for (const EventRecord& e : *all) n += e.kind == kind;
    }
    return n;
  }
};

TEST(DoorPolicyTest, RunningServiceForwardsAndCountsTheRequestAsWork) {
  DoorWorld w(State::kRunning);
  Fate fate;
  ProxyRequestHead h = w.Head();
  EXPECT_EQ(w.Send(h, &fate).kind, ProxyVerdict::Kind::kForward);
  EXPECT_EQ(w.port.Look("webui")->active_jobs, 1);  // idle_unload will not stop it now
  EXPECT_EQ(w.door->counted(), 1u);
  w.door->OnRequestEnd(h, ProxyRequestEnd{.status = 200});
  EXPECT_EQ(w.port.Look("webui")->active_jobs, 0);
  EXPECT_TRUE(w.port.starts.empty());
}

TEST(DoorPolicyTest, UpgradesPassButAreNotWork) {
  DoorWorld w(State::kRunning);
  Fate fate;
  EXPECT_EQ(w.Send(w.Head(/*upgrade=*/true), &fate).kind, ProxyVerdict::Kind::kForward);
  EXPECT_EQ(w.port.Look("webui")->active_jobs, 0);
}

TEST(DoorPolicyTest, StoppedServiceIsStartedAndTheRequestGoesWhenReady) {
  DoorWorld w(State::kStopped);
  Fate a, b;
  EXPECT_EQ(w.Send(w.Head(), &a).kind, ProxyVerdict::Kind::kHold);
  EXPECT_EQ(w.Send(w.Head(), &b).kind, ProxyVerdict::Kind::kHold);
  w.Drain();
  ASSERT_EQ(w.port.starts.size(), 1u);  // one start for both
  EXPECT_EQ(w.Count("start-on-demand"), 1);
  EXPECT_EQ(w.door->held(), 2u);
  // Its own event and the first steps of the start change nothing.
  w.Becomes(State::kStarting, "spawned");
  w.Becomes(State::kWaitingForVram, "waiting-for-vram");
  EXPECT_FALSE(a.released || a.answer || b.released || b.answer);
  w.Becomes(State::kRunning, "ready");
  EXPECT_TRUE(a.released);
  EXPECT_TRUE(b.released);
  EXPECT_EQ(w.door->held(), 0u);
  EXPECT_EQ(w.port.Look("webui")->active_jobs, 2);
  EXPECT_EQ(w.port.starts.size(), 1u);
}

TEST(DoorPolicyTest, AStartThatFailsAnswersEveryHeldRequest) {
  DoorWorld w(State::kStopped);
  Fate fate;
  w.Send(w.Head(), &fate);
  w.Drain();
  w.Becomes(State::kStarting, "spawned");
  w.Becomes(State::kFailed, "start-failed", "crashed while starting (exit 1)");
  ASSERT_TRUE(fate.answer);
  EXPECT_EQ(fate.answer->status, 503);
  EXPECT_NE(fate.answer->body.find("failed to start: crashed while starting"), std::string::npos)
      << fate.answer->body;
  EXPECT_EQ(fate.answer->headers.at("Retry-After"), "60");
  EXPECT_EQ(w.port.starts.size(), 1u);
}

TEST(DoorPolicyTest, AStopThatOvertookTheStartIsStartedOnceMoreThenGivenUp) {
  DoorWorld w(State::kStopping);  // an idle unload under way when the request came
  Fate fate;
  w.Send(w.Head(), &fate);
  w.Drain();
  EXPECT_TRUE(w.port.starts.empty());
  w.Becomes(State::kStopped, "stopped");
  ASSERT_EQ(w.port.starts.size(), 1u);
  w.Becomes(State::kStarting, "spawned");
  w.Becomes(State::kStopped, "stopped");  // stopped again by someone
  EXPECT_EQ(w.port.starts.size(), 2u);
  w.Becomes(State::kStarting, "spawned");
  w.Becomes(State::kStopped, "stopped");  // and again: not a third start
  EXPECT_EQ(w.port.starts.size(), 2u);
  ASSERT_TRUE(fate.answer);
  EXPECT_NE(fate.answer->body.find("did not stay up"), std::string::npos) << fate.answer->body;
}

TEST(DoorPolicyTest, HeldLongerThanTheHoldTimeoutIsAnswered503) {
  DoorWorld w(State::kStopped, true, Millis(30));
  Fate fate;
  w.Send(w.Head(), &fate);
  w.Drain();
  w.Becomes(State::kStarting, "spawned", "loading the model");
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(fate.answer);
  EXPECT_EQ(fate.answer->status, 503);
  EXPECT_NE(fate.answer->body.find("was not ready within"), std::string::npos) << fate.answer->body;
  EXPECT_EQ(fate.answer->headers.at("Retry-After"), "30");
  EXPECT_EQ(w.door->held(), 0u);
}

TEST(DoorPolicyTest, WithoutStartOnDemandAStoppedServiceIsAnswered503AtOnce) {
  DoorWorld w(State::kStopped, /*on_demand=*/false);
  Fate fate;
  ProxyVerdict v = w.Send(w.Head(), &fate);
  ASSERT_EQ(v.kind, ProxyVerdict::Kind::kAnswer);
  EXPECT_EQ(v.answer.status, 503);
  EXPECT_NE(v.answer.body.find("webui is stopped"), std::string::npos) << v.answer.body;
  EXPECT_NE(v.answer.body.find("vramguard start webui"), std::string::npos);
  w.Drain();
  EXPECT_TRUE(w.port.starts.empty());
}

TEST(DoorPolicyTest, AClientThatLeavesWhileHeldIsDropped) {
  DoorWorld w(State::kStopped);
  Fate fate;
  ProxyRequestHead h = w.Head();
  w.Send(h, &fate);
  w.Drain();
  w.door->OnRequestEnd(h, ProxyRequestEnd{.status = 0, .error = "client closed"});
  EXPECT_EQ(w.door->held(), 0u);
  w.Becomes(State::kRunning, "ready");
  EXPECT_FALSE(fate.released);
  EXPECT_EQ(w.port.Look("webui")->active_jobs, 0);
}

}  // namespace
}  // namespace vg
