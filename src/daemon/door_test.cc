#include "daemon/door.h"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <thread>
#include <vector>

#include "core/ws_frames.h"
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

// The job queue as the door sees it: records submissions; the test answers and dispatches.
struct FakeDoorJobs : DoorJobs {
  struct Submission {
    std::string service;
    nlohmann::json params;
    std::shared_ptr<JobManager::DoorTicket> ticket;
    std::function<void(HttpResponse)> done;
  };
  std::vector<Submission> submitted;
  std::vector<std::pair<std::int64_t, int>> ended;
  std::vector<std::int64_t> gone;
  void Submit(const std::string& service, nlohmann::json params,
              std::shared_ptr<JobManager::DoorTicket> ticket,
              std::function<void(HttpResponse)> done) override {
    submitted.push_back({service, std::move(params), std::move(ticket), std::move(done)});
  }
  void Ended(std::int64_t job, int status, const std::string&) override {
    ended.emplace_back(job, status);
  }
  void Gone(std::int64_t job) override { gone.push_back(job); }
};

struct RouteWorld : DoorWorld {
  FakeDoorJobs jobs;
  explicit RouteWorld(DoorProtocol protocol) : DoorWorld(State::kRunning) {
    DoorRoute r;
    r.method = "POST";
    r.path = "/generate";
    r.text = "POST /generate";
    r.protocol = protocol;
    r.params.push_back(*ParseDoorSource("resolution", "/resolution"));
    spec.routes = {r};
    door = std::make_unique<DoorPolicy>(io, port, events, "webui", spec, &jobs, 1024);
  }
  ProxyRequestHead Job(const std::string& body) {
    ProxyRequestHead h = Head();
    h.target = "/generate";
    h.has_body = true;
    EXPECT_EQ(door->InspectBody(h), 1024u);
    h.body = body;
    h.body_read = true;
    return h;
  }
};

TEST(DoorPolicyTest, ARouteThatIsAJobIsSubmittedHeldAndForwardedWhenDispatched) {
  RouteWorld w(DoorProtocol::kGeneric);
  ProxyRequestHead other = w.Head();
  EXPECT_EQ(w.door->InspectBody(other), 0u);  // not a job route: its body streams
  Fate fate;
  ProxyRequestHead h = w.Job(R"({"resolution": 768})");
  EXPECT_EQ(w.Send(h, &fate).kind, ProxyVerdict::Kind::kHold);
  ASSERT_EQ(w.jobs.submitted.size(), 1u);
  EXPECT_EQ(w.jobs.submitted[0].params, nlohmann::json({{"resolution", 768}}));
  EXPECT_EQ(w.door->counted(), 0u);  // the job queue counts it as work, not the door
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 7}, {"position", 2}}));
  EXPECT_FALSE(fate.released);
  EXPECT_EQ(w.door->jobs_waiting(), 1u);
  w.jobs.submitted[0].ticket->forward(7);
  EXPECT_TRUE(fate.released);
  auto headers = w.door->ResponseHeaders(h);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"X-Vramguard-Job", "7"}));
  EXPECT_EQ(headers[1].second, "2");
  w.door->OnRequestEnd(h, ProxyRequestEnd{.status = 200, .forwarded = true});
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{7, 200}}));
  EXPECT_EQ(w.door->jobs_waiting(), 0u);
}

TEST(DoorPolicyTest, ARefusedJobIsAnsweredInItsRoutesProtocol) {
  RouteWorld w(DoorProtocol::kOpenAi);
  Fate fate;
  ProxyRequestHead h = w.Job(R"({"resolution": 4096})");
  EXPECT_EQ(w.Send(h, &fate).kind, ProxyVerdict::Kind::kHold);
  w.jobs.submitted[0].done(
      HttpResponse::Json(422, {{"error", "needs ~30 GiB, 13 GiB plannable"},
                               {"id", 9},
                               {"suggestions", {{{"params", {{"resolution", 768}}}}}}}));
  ASSERT_TRUE(fate.answer);
  EXPECT_EQ(fate.answer->status, 400);
  auto body = nlohmann::json::parse(fate.answer->body);
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["code"], "insufficient_vram");
  EXPECT_EQ(body["vramguard"]["suggestions"][0]["params"]["resolution"], 768);
  EXPECT_FALSE(fate.released);
}

TEST(DoorPolicyTest, AJobThatEndsBeforeItWentAnswersWithRetryAfter) {
  RouteWorld w(DoorProtocol::kGradio);
  Fate fate;
  ProxyRequestHead h = w.Job(R"({"resolution": 512})");
  w.Send(h, &fate);
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 3}}));
  w.jobs.submitted[0].ticket->fail(503, "job 3 failed: webui failed to start");
  ASSERT_TRUE(fate.answer);
  EXPECT_EQ(fate.answer->status, 503);
  EXPECT_FALSE(fate.answer->headers["Retry-After"].empty());
  EXPECT_EQ(nlohmann::json::parse(fate.answer->body)["detail"].get<std::string>().rfind("job 3", 0),
            0u);
  w.jobs.submitted[0].ticket->forward(3);  // too late: nothing more happens
  EXPECT_FALSE(fate.released);
}

TEST(DoorPolicyTest, AClientThatLeavesWhileQueuedTakesItsJobOutOfTheQueue) {
  RouteWorld w(DoorProtocol::kGeneric);
  Fate a, b;
  ProxyRequestHead ha = w.Job(R"({"resolution": 512})");
  ProxyRequestHead hb = w.Job(R"({"resolution": 512})");
  w.Send(ha, &a);
  w.Send(hb, &b);
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 1}}));
  w.door->OnRequestEnd(ha, ProxyRequestEnd{});  // left after its job was stored
  EXPECT_EQ(w.jobs.gone, (std::vector<std::int64_t>{1}));
  w.door->OnRequestEnd(hb, ProxyRequestEnd{});  // left before the queue answered
  EXPECT_EQ(w.jobs.gone.size(), 1u);
  w.jobs.submitted[1].done(HttpResponse::Json(202, {{"id", 2}}));
  EXPECT_EQ(w.jobs.gone, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(w.door->jobs_waiting(), 0u);
}

TEST(DoorPolicyTest, ABodyThatIsNotJsonIs400AndOneOutsideTheRouteConditionPassesThrough) {
  RouteWorld w(DoorProtocol::kGeneric);
  Fate fate;
  ProxyVerdict v = w.Send(w.Job("resolution=512"), &fate);
  ASSERT_EQ(v.kind, ProxyVerdict::Kind::kAnswer);
  EXPECT_EQ(v.answer.status, 400);
  EXPECT_TRUE(w.jobs.submitted.empty());
  w.spec.routes[0].when.push_back({{"fn_index"}, 2, "/fn_index"});
  w.door = std::make_unique<DoorPolicy>(w.io, w.port, w.events, "webui", w.spec, &w.jobs, 1024);
  EXPECT_EQ(w.Send(w.Job(R"({"fn_index": 5, "resolution": 512})"), &fate).kind,
            ProxyVerdict::Kind::kForward);
  EXPECT_TRUE(w.jobs.submitted.empty());
}

// Gradio 3's WebSocket queue (ends = "gradio-ws"): the door's tap on the tunnel.
std::string ClientFrame(const std::string& text) {
  std::string f(1, '\x81');
  f.push_back(static_cast<char>(0x80 | text.size()));  // tests keep messages under 126 bytes
  f.append(4, '\0');                                   // a zero mask: the payload as it is
  return f + text;
}

struct WsWorld : DoorWorld {
  FakeDoorJobs jobs;
  std::string to_service, to_client;
  int closes = 0;
  std::shared_ptr<ProxyTunnelTap> tap;
  ProxyRequestHead head;

  WsWorld() : DoorWorld(State::kRunning) {
    DoorRoute r;
    r.method = "GET";
    r.path = "/queue/join";
    r.text = "GET /queue/join";
    r.protocol = DoorProtocol::kGradio;
    r.ends = DoorEnds::kGradioWs;
    r.params.push_back(*ParseDoorSource("resolution", "/data/0"));
    r.params.push_back(*ParseDoorSource("frames", "/data/1"));
    r.when.push_back({{"fn_index"}, 0, "/fn_index"});
    spec.routes = {r};
    spec.gradio_ws_hold = std::chrono::milliseconds(100);
    door = std::make_unique<DoorPolicy>(io, port, events, "webui", spec, &jobs, 1024);
    head = Head(/*upgrade=*/true);
    head.method = "GET";
    head.target = "/queue/join";
  }

  // The upgrade goes through as any while the service runs; the proxy asks for the tap.
  void Open() {
    Fate fate;
    ASSERT_EQ(Send(head, &fate).kind, ProxyVerdict::Kind::kForward);
    tap = door->TapTunnel(head);
    ASSERT_TRUE(tap);
    tap->Start(ProxyTunnelControl{.send =
                                      [this](const std::string& up, const std::string& down) {
                                        to_service += up;
                                        to_client += down;
                                      },
                                  .close = [this] { ++closes; }});
    EXPECT_EQ(tap->FromService(WsTextFrame(R"({"msg": "send_hash"})")),
              WsTextFrame(R"({"msg": "send_hash"})"));
    const std::string hash = ClientFrame(R"({"fn_index": 0, "session_hash": "s"})");
    EXPECT_EQ(tap->FromClient(hash), hash);
    tap->FromService(WsTextFrame(R"({"msg": "send_data"})"));
  }

  std::string Data(int fn = 0) const {
    return ClientFrame(R"({"data": [768, 24], "event_data": null, "fn_index": )" +
                       std::to_string(fn) + R"(, "session_hash": "s"})");
  }

  void End() {
    door->OnRequestEnd(head, ProxyRequestEnd{.status = 101, .forwarded = true, .upgraded = true});
  }
};

TEST(DoorGradioWsTest, TheDataMessageIsHeldUntilTheJobIsAdmittedAndItsEndIsTheEvents) {
  WsWorld w;
  w.Open();
  EXPECT_EQ(w.tap->FromClient(w.Data()), "");  // held
  ASSERT_EQ(w.jobs.submitted.size(), 1u);
  EXPECT_EQ(w.jobs.submitted[0].params, nlohmann::json({{"resolution", 768}, {"frames", 24}}));
  EXPECT_EQ(w.to_service, "");
  w.jobs.submitted[0].ticket->forward(5);  // admitted at once (before the 202 came)
  EXPECT_EQ(w.to_service, w.Data());       // exactly its bytes
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 5}, {"position", 0}}));
  EXPECT_EQ(w.to_client, "");
  EXPECT_EQ(w.door->gradio_ws_followed(), 1u);
  EXPECT_TRUE(w.jobs.ended.empty());
  w.tap->FromService(WsTextFrame(R"({"msg": "process_starts"})"));
  EXPECT_TRUE(w.jobs.ended.empty());
  w.tap->FromService(
      WsTextFrame(R"({"msg": "process_completed", "output": {"data": []}, "success": true})"));
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{5, 200}}));
  w.tap->Closed();
  w.End();
  EXPECT_EQ(w.jobs.ended.size(), 1u);  // once
  EXPECT_EQ(w.door->gradio_ws_followed(), 0u);
  EXPECT_EQ(w.closes, 0);
}

TEST(DoorGradioWsTest, AQueuedEventIsShownTheDoorsPositionAndAClosedOneEndsItsJob) {
  WsWorld w;
  w.Open();
  w.tap->FromClient(w.Data());
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 6}, {"position", 2}}));
  WsFrameReader reader(false, 4096);
  auto fed = reader.Feed(w.to_client);
  ASSERT_EQ(fed.messages.size(), 1u);
  auto estimation = nlohmann::json::parse(fed.messages[0].head);
  EXPECT_EQ(estimation["msg"], "estimation");
  EXPECT_EQ(estimation["rank"], 1);  // one job ahead of it
  EXPECT_EQ(w.to_service, "");
  w.jobs.submitted[0].ticket->forward(6);
  EXPECT_EQ(w.to_service, w.Data());
  w.tap->Closed();  // the browser tab closed while it ran
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{6, 0}}));
}

TEST(DoorGradioWsTest, ARefusalReachesThePageAsAFailedEventAndTheSocketCloses) {
  WsWorld w;
  w.Open();
  w.tap->FromClient(w.Data());
  w.jobs.submitted[0].done(HttpResponse::Json(
      422, {{"error", "needs ~90 GiB, 79 GiB plannable; fits: resolution 512"}, {"id", 9}}));
  WsFrameReader reader(false, 4096);
  auto fed = reader.Feed(w.to_client);
  ASSERT_EQ(fed.messages.size(), 2u);
  auto failed = nlohmann::json::parse(fed.messages[0].head);
  EXPECT_EQ(failed["msg"], "process_completed");
  EXPECT_EQ(failed["success"], false);
  EXPECT_EQ(failed["output"]["error"], "needs ~90 GiB, 79 GiB plannable; fits: resolution 512");
  EXPECT_EQ(fed.messages[1].opcode, WsOpcode::kClose);
  EXPECT_EQ(w.closes, 1);
  EXPECT_EQ(w.to_service, "");  // the service never got the data: it drops the event
  EXPECT_TRUE(w.jobs.gone.empty());
  EXPECT_TRUE(w.jobs.ended.empty());
}

TEST(DoorGradioWsTest, AnEventHeldPastTheHoldIsWithdrawnBeforeGradioGivesUp) {
  WsWorld w;
  w.Open();
  w.tap->FromClient(w.Data());
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 8}, {"position", 1}}));
  w.to_client.clear();
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(w.jobs.gone, (std::vector<std::int64_t>{8}));
  EXPECT_NE(w.to_client.find("waited 0.10 s for VRAM"), std::string::npos) << w.to_client;
  EXPECT_EQ(w.closes, 1);
  w.jobs.submitted[0].ticket->forward(8);  // too late: nothing goes
  EXPECT_EQ(w.to_service, "");
}

TEST(DoorGradioWsTest, AnotherFunctionOfTheAppPassesAndAClientGoneBeforeTheAnswerIsWithdrawn) {
  WsWorld w;
  w.Open();
  EXPECT_EQ(w.tap->FromClient(w.Data(/*fn=*/3)), "");
  EXPECT_EQ(w.to_service, w.Data(3));  // released at once, not a job
  EXPECT_TRUE(w.jobs.submitted.empty());

  WsWorld v;
  v.Open();
  v.tap->FromClient(v.Data());
  v.tap->Closed();  // left before the queue answered
  EXPECT_TRUE(v.jobs.gone.empty());
  v.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 11}}));
  EXPECT_EQ(v.jobs.gone, (std::vector<std::int64_t>{11}));
}

TEST(DoorGradioWsTest, ClosingTheDoorEndsARunningEventsJob) {
  WsWorld w;
  w.Open();
  w.tap->FromClient(w.Data());
  w.jobs.submitted[0].ticket->forward(4);
  w.door->Close();
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{4, 0}}));
  w.tap->Closed();  // the proxy's tunnel ends afterwards: nothing more
  EXPECT_EQ(w.jobs.ended.size(), 1u);
}

TEST(DoorGradioWsTest, AnUpgradeOfAnotherRouteIsNotTapped) {
  WsWorld w;
  ProxyRequestHead h = w.Head(true);
  h.method = "GET";
  h.target = "/ws/other";
  EXPECT_FALSE(w.door->TapTunnel(h));
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// Gradio's queue: the join answers an event id at once; the job runs until that event's
// process_completed passes through the proxy on the session's /queue/data stream.
struct GradioWorld : DoorWorld {
  FakeDoorJobs jobs;
  explicit GradioWorld(Millis grace = std::chrono::seconds(60)) : DoorWorld(State::kRunning) {
    DoorRoute r;
    r.method = "POST";
    r.path = "/gradio_api/queue/join";
    r.text = "POST /gradio_api/queue/join";
    r.protocol = DoorProtocol::kGradio;
    r.ends = DoorEnds::kGradioQueue;
    r.params.push_back(*ParseDoorSource("resolution", "/data/0"));
    spec.routes = {r};
    spec.gradio_stream_grace = grace;
    door = std::make_unique<DoorPolicy>(io, port, events, "webui", spec, &jobs, 4096);
  }
  // A join that was admitted as job `id` and answered with `event`; returns its head.
  ProxyRequestHead Join(std::int64_t id, const std::string& event, const std::string& session) {
    ProxyRequestHead h = Head();
    h.target = "/gradio_api/queue/join?";
    h.has_body = true;
    EXPECT_GT(door->InspectBody(h), 0u);
    h.body = R"({"data": [768], "fn_index": 0, "session_hash": ")" + session + R"("})";
    h.body_read = true;
    Fate fate;
    EXPECT_EQ(Send(h, &fate).kind, ProxyVerdict::Kind::kHold);
    jobs.submitted.back().done(HttpResponse::Json(202, {{"id", id}}));
    jobs.submitted.back().ticket->forward(id);
    EXPECT_TRUE(fate.released);
    ProxyBodySink sink = door->WatchResponse(h, 200);
    EXPECT_TRUE(sink);
    const std::string answer = R"({"event_id": ")" + event + R"("})";
    sink(std::string_view(answer).substr(0, 5), false);  // in pieces, as bodies come
    sink(std::string_view(answer).substr(5), false);
    sink({}, true);
    door->OnRequestEnd(h, ProxyRequestEnd{.status = 200, .forwarded = true});
    return h;
  }
  ProxyBodySink Stream(const std::string& session) {
    ProxyRequestHead h = Head();
    h.method = "GET";
    h.target = "/gradio_api/queue/data?session_hash=" + session;
    return door->WatchResponse(h, 200);
  }
};

TEST(DoorGradioQueueTest, TheJobEndsWithItsEventNotWithTheJoinsAnswer) {
  GradioWorld w;
  ProxyBodySink stream = w.Stream("s1");
  ASSERT_TRUE(stream);
  w.Join(5, "ev-a", "s1");
  EXPECT_TRUE(w.jobs.ended.empty());  // the answer only named the event
  EXPECT_EQ(w.door->gradio_events_followed(), 1u);
  stream("data: {\"msg\": \"process_starts\", \"event_id\": \"ev-a\"}\n\n", false);
  stream("data: {\"msg\": \"process_completed\", \"event_id\": \"ev-b\", \"success\": true}\n\n",
         false);  // another tab's event: not this job
  EXPECT_TRUE(w.jobs.ended.empty());
  stream(
      "data: {\"msg\": \"process_completed\", \"event_id\": \"ev-a\", \"success\": false, "
      "\"output\": {\"error\": \"CUDA out of memory\"}}\n\n",
      false);
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{5, 500}}));
  EXPECT_EQ(w.door->gradio_events_followed(), 0u);
  stream({}, true);
}

TEST(DoorGradioQueueTest, ACompletionSeenBeforeTheAnswerEndsTheJobAtOnce) {
  GradioWorld w;
  ProxyBodySink stream = w.Stream("s1");
  stream("data: {\"msg\":\"process_completed\",\"event_id\":\"fast\",\"success\":true}\n", false);
  w.Join(6, "fast", "s1");
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{6, 200}}));
  EXPECT_EQ(w.door->gradio_events_followed(), 0u);
}

TEST(DoorGradioQueueTest, AJoinWithoutAnEventIdEndsWithItsAnswer) {
  GradioWorld w;
  ProxyRequestHead h = w.Head();
  h.target = "/gradio_api/queue/join";
  h.body = R"({"data": [512], "session_hash": "s2"})";
  h.has_body = h.body_read = true;
  Fate fate;
  w.Send(h, &fate);
  w.jobs.submitted[0].done(HttpResponse::Json(202, {{"id", 8}}));
  w.jobs.submitted[0].ticket->forward(8);
  EXPECT_EQ(w.door->WatchResponse(h, 404), nullptr);  // an error answer: nothing to follow
  w.door->OnRequestEnd(h, ProxyRequestEnd{.status = 404, .forwarded = true});
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{8, 404}}));
}

TEST(DoorGradioQueueTest, AnEventNoStreamFollowsEndsAfterTheGrace) {
  GradioWorld w(std::chrono::milliseconds(30));
  ProxyBodySink stream = w.Stream("s3");
  w.Join(9, "ev-c", "s3");
  stream({}, true);  // the tab closed its stream before the event finished
  w.Drain();
  EXPECT_TRUE(w.jobs.ended.empty());
  // A new stream of the session adopts the event again before the grace ends.
  ProxyBodySink again = w.Stream("s3");
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  w.Drain();
  EXPECT_TRUE(w.jobs.ended.empty());
  again({}, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  w.io.restart();
  w.io.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{9, 0}}));
  EXPECT_EQ(w.door->gradio_events_followed(), 0u);
}

TEST(DoorGradioQueueTest, StreamsOfOtherPathsAndRoutesWithoutGradioAreNotWatched) {
  RouteWorld plain(DoorProtocol::kGradio);  // ends = "answer"
  ProxyRequestHead h = plain.Head();
  h.method = "GET";
  h.target = "/gradio_api/queue/data?session_hash=x";
  EXPECT_EQ(plain.door->WatchResponse(h, 200), nullptr);
  GradioWorld w;
  ProxyRequestHead other = w.Head();
  other.method = "GET";
  other.target = "/file=/tmp/out.png";
  EXPECT_EQ(w.door->WatchResponse(other, 200), nullptr);
  other.target = "/gradio_api/queue/data";  // no session: nothing to match events to
  EXPECT_EQ(w.door->WatchResponse(other, 200), nullptr);
}

// ComfyUI's prompt: the answer names a prompt id at once; the job runs until the service's
// /history has the prompt (asked by the door, here of a fake upstream).
struct ComfyWorld : DoorWorld {
  FakeDoorJobs jobs;
  std::map<std::string, std::pair<int, std::string>> answers;  // path → what the service says
  std::vector<std::string> asked;
  ComfyWorld() : DoorWorld(State::kRunning) {
    DoorRoute r;
    r.method = "POST";
    r.path = "/api/prompt";
    r.text = "POST /api/prompt";
    r.ends = DoorEnds::kComfyHistory;
    r.params.push_back(*ParseDoorSource("resolution", "/prompt/*/inputs/width"));
    spec.routes = {r};
    spec.comfy_poll = std::chrono::milliseconds(2);
    door = std::make_unique<DoorPolicy>(io, port, events, "webui", spec, &jobs, 4096);
    door->SetUpstreamGet([this](const std::string& path, const DoorPolicy::UpstreamAnswer& answer) {
      asked.push_back(path);
      auto it = answers.find(path);
      if (it == answers.end()) return answer(0, "", false);  // no answer (connection refused)
      answer(it->second.first, it->second.second, false);
    });
  }
  // A prompt admitted as job `id` and answered with `answer`.
  ProxyRequestHead Prompt(std::int64_t id, const std::string& answer, int status = 200) {
    ProxyRequestHead h = Head();
    h.target = "/api/prompt";
    h.has_body = true;
    EXPECT_GT(door->InspectBody(h), 0u);
    h.body = R"({"prompt": {"5": {"inputs": {"width": 768}}}, "client_id": "c"})";
    h.body_read = true;
    Fate fate;
    EXPECT_EQ(Send(h, &fate).kind, ProxyVerdict::Kind::kHold);
    jobs.submitted.back().done(HttpResponse::Json(202, {{"id", id}}));
    jobs.submitted.back().ticket->forward(id);
    EXPECT_TRUE(fate.released);
    if (ProxyBodySink sink = door->WatchResponse(h, status)) {
      sink(answer, false);
      sink({}, true);
    }
    door->OnRequestEnd(h, ProxyRequestEnd{.status = status, .forwarded = true});
    return h;
  }
  void RunFor(int ms) {
    io.restart();
    io.run_for(std::chrono::milliseconds(ms));
  }
};

TEST(DoorComfyPromptTest, TheJobEndsWhenTheHistoryHasThePromptNotWithItsAnswer) {
  ComfyWorld w;
  w.answers["/api/history/p-1"] = {200, "{}"};
  w.answers["/api/queue"] = {200, R"({"queue_running": [[1, "p-1", {}]], "queue_pending": []})"};
  w.Prompt(5, R"({"prompt_id": "p-1", "number": 1, "node_errors": {}})");
  EXPECT_EQ(w.door->comfy_prompts_followed(), 1u);
  w.RunFor(60);  // many asks, the queue looked at too: still running
  EXPECT_TRUE(w.jobs.ended.empty());
  EXPECT_GT(w.asked.size(), 8u);
  EXPECT_NE(std::find(w.asked.begin(), w.asked.end(), "/api/queue"), w.asked.end());
  w.answers["/api/history/p-1"] = {
      200, R"({"p-1": {"outputs": {}, "status": {"status_str": "success", "completed": true}}})"};
  w.RunFor(30);
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{5, 200}}));
  EXPECT_EQ(w.door->comfy_prompts_followed(), 0u);
}

TEST(DoorComfyPromptTest, AnErrorInTheHistoryEndsItFailed) {
  ComfyWorld w;
  w.answers["/api/history/p-2"] = {
      200, R"({"p-2": {"outputs": {}, "status": {"status_str": "error", "completed": false}}})"};
  w.Prompt(6, R"({"prompt_id": "p-2", "number": 2, "node_errors": {}})");
  w.RunFor(30);
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{6, 500}}));
}

TEST(DoorComfyPromptTest, APromptDeletedFromTheQueueAndAServiceThatStopsAnsweringEndIt) {
  ComfyWorld w;
  w.answers["/api/history/p-3"] = {200, "{}"};
  w.answers["/api/queue"] = {200, R"({"queue_running": [], "queue_pending": []})"};
  w.Prompt(7, R"({"prompt_id": "p-3"})");
  w.Prompt(8, R"({"prompt_id": "p-4"})");  // its history is never answered
  w.RunFor(200);
  ASSERT_EQ(w.jobs.ended.size(), 2u);
  EXPECT_EQ(w.door->comfy_prompts_followed(), 0u);
  for (const auto& [job, status] : w.jobs.ended) EXPECT_EQ(status, 0) << job;
}

TEST(DoorComfyPromptTest, AnAnswerWithoutAPromptIdEndsWithItAndCloseEndsTheRest) {
  ComfyWorld w;
  w.Prompt(9, R"({"error": {"type": "prompt_outputs_failed_validation"}, "node_errors": {}})", 400);
  EXPECT_EQ(w.jobs.ended, (std::vector<std::pair<std::int64_t, int>>{{9, 400}}));
  w.answers["/api/history/p-5"] = {200, "{}"};
  w.Prompt(10, R"({"prompt_id": "p-5"})");
  w.door->Close();
  EXPECT_EQ(w.jobs.ended.back(), (std::pair<std::int64_t, int>{10, 0}));
  EXPECT_EQ(w.door->comfy_prompts_followed(), 0u);
}

}  // namespace
}  // namespace vg
