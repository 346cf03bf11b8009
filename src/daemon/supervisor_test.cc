// The supervisor's operations and their races, deterministically: a real io_context, fake
// processes (testing/fake_world.h), an in-memory store, no GPU. Each race from the hardening
// issue is one test; every one ends by checking that nothing of ours outlives its instance.
#include "daemon/supervisor.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include "core/instance_tag.h"
#include "daemon/event_hub.h"
#include "store/memory_store.h"
#include "testing/fake_world.h"

namespace vg {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorld;

ServiceConfig Svc(const std::string& name) {
  ServiceConfig c;
  c.name = name;
  c.command = {"svc"};
  c.stop.grace = Millis(150);
  c.stop.release_timeout = Millis(50);
  c.restart.backoff_min = Millis(10);
  c.restart.backoff_max = Millis(20);
  c.ready.timeout = Millis(10000);
  return c;
}

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("vg-sup-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    config_.daemon.state_dir = dir_.string();
  }
  ~SupervisorTest() override {
    sup_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Boot(std::vector<ServiceConfig> services) {
    config_.services = std::move(services);
    SupervisorDeps deps;
    deps.procs = &world_;
    deps.spawner = &world_;
    deps.process = &world_;
    deps.events = &events_;
    deps.store = &store_;
    deps.subreaper = true;  // FakeWorld reparents orphans to the test process
    if (with_events_) deps.open_proc_events = [this] { return world_.OpenEvents(); };
    sup_ = std::make_unique<Supervisor>(io_, deps, config_);
    sup_->Boot();
  }

  // An instance of `service` an earlier daemon left running (under init), recorded in the store.
  pid_t LeftRunning(const std::string& service, const std::string& tag) {
    const pid_t pid = world_.Fork(1, tag);
    InstanceRecord rec{.service = service, .tag = tag, .pid = pid};
    rec.start_time = world_.Find(pid)->start_time;
    EXPECT_TRUE(store_.PutInstance(rec));
    return pid;
  }

  // Runs the loop until pred holds (false after `limit`).
  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(1ms);
    }
    return true;
  }
  void RunFor(std::chrono::milliseconds d) {
    RunUntil([] { return false; }, d);
  }

  std::string State(const std::string& name) {
    auto j = sup_->Status(name);
    return j ? (*j)["state"].get<std::string>() : "absent";
  }
  pid_t Pid(const std::string& name) {
    auto j = sup_->Status(name);
    return j && (*j)["pid"].is_number() ? (*j)["pid"].get<pid_t>() : 0;
  }
  bool RunningWith(const std::string& name, pid_t not_pid) {
    return State(name) == "running" && Pid(name) != 0 && Pid(name) != not_pid;
  }
  // Nothing alive but the current instances of these services.
  void ExpectOnlyCurrentInstancesAlive(const std::vector<std::string>& names) {
    std::vector<pid_t> expected;
    for (const std::string& n : names) {
      if (Pid(n) != 0) expected.push_back(Pid(n));
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(world_.Alive(), expected);
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  FakeWorld world_;
  bool with_events_ = false;  // the proc connector of the world (FakeWorld::OpenEvents)
  MemoryStore store_;
  EventHub events_{store_, false};
  Config config_;
  std::unique_ptr<Supervisor> sup_;
};

TEST_F(SupervisorTest, StartsAndStopsWithTheOneStopProcedure) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t pid = Pid("a");
  ASSERT_TRUE(sup_->Stop("a"));
  ASSERT_TRUE(RunUntil([&] { return State("a") == "stopped"; }));
  EXPECT_EQ(world_.Find(pid)->signals, std::vector<int>{SIGTERM});
  EXPECT_TRUE(world_.Alive().empty());
}

// Issue 10, finding 5: `stop --no-wait; restart` — the old stop's late sweep SIGKILLed the new
// instance ("still alive after 0 µs grace") and the service ended stopped.
TEST_F(SupervisorTest, RestartInsideAStopsGraceIsNotKilledByThatStop) {
  world_.ignore_term = true;  // the first instance needs the whole grace and a KILL
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  world_.ignore_term = false;
  ASSERT_TRUE(sup_->Stop("a"));
  RunFor(20ms);  // inside the grace
  ASSERT_TRUE(sup_->Restart("a"));
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  const pid_t second = Pid("a");
  RunFor(300ms);  // longer than the first stop's grace: nothing late may hit the new instance
  EXPECT_EQ(State("a"), "running");
  EXPECT_EQ(Pid("a"), second);
  EXPECT_TRUE(world_.Find(second)->signals.empty());
  EXPECT_EQ(world_.Find(first)->signals, (std::vector<int>{SIGTERM, SIGKILL}));
  ExpectOnlyCurrentInstancesAlive({"a"});
}

TEST_F(SupervisorTest, StopStopStartEndsRunning) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  ASSERT_TRUE(sup_->Stop("a"));
  ASSERT_TRUE(sup_->Stop("a"));
  ASSERT_TRUE(sup_->Start("a"));
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  RunFor(200ms);
  EXPECT_EQ(State("a"), "running");
  ExpectOnlyCurrentInstancesAlive({"a"});
}

TEST_F(SupervisorTest, RestartRestartLeavesExactlyOneInstance) {
  world_.ignore_term = true;
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  ASSERT_TRUE(sup_->Restart("a"));
  RunFor(5ms);
  ASSERT_TRUE(sup_->Restart("a"));
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  RunFor(400ms);
  EXPECT_EQ(State("a"), "running");
  ExpectOnlyCurrentInstancesAlive({"a"});
}

// Finding 5's other half: the main process exits (a crash) in the same loop turn as an
// operator's restart; the crash handling must not forget the restart's new instance.
TEST_F(SupervisorTest, CrashAndRestartTogetherLeaveTheNewInstanceRunning) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  world_.Exit(first, 1 << 8);  // exit status 1
  ASSERT_TRUE(sup_->Restart("a"));
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  const pid_t second = Pid("a");
  RunFor(200ms);
  EXPECT_EQ(State("a"), "running");
  EXPECT_TRUE(world_.Find(second)->signals.empty());
  ExpectOnlyCurrentInstancesAlive({"a"});
}

TEST_F(SupervisorTest, ACrashIsRestartedByThePolicy) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  world_.Exit(first, 1 << 8);
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  auto j = sup_->Status("a");
  EXPECT_EQ((*j)["restarts"], 1);
  ExpectOnlyCurrentInstancesAlive({"a"});
}

// Finding 6: a service re-added while its removal is still stopping vanished ("0 added, 0
// changed, 0 removed", then `start` said there was no such service).
TEST_F(SupervisorTest, ReaddedWhileItsRemovalIsStoppingComesBack) {
  world_.ignore_term = true;
  Boot({Svc("a"), Svc("b")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running" && State("b") == "running"; }));
  const pid_t first = Pid("a");
  world_.ignore_term = false;
  Config without = config_;
  without.services = {Svc("b")};
  sup_->Reload(without);
  RunFor(20ms);  // a's stop is in its grace
  Config with = config_;
  with.services = {Svc("a"), Svc("b")};
  sup_->Reload(with);
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  RunFor(300ms);
  EXPECT_EQ(State("a"), "running");
  ExpectOnlyCurrentInstancesAlive({"a", "b"});
}

// Finding 3's shape without the probe: removed, then added back; the old instance's watchers
// end, the revived service starts fresh (the same object: nothing is freed under them).
TEST_F(SupervisorTest, RemovedThenAddedBackStartsAFreshInstance) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  Config none = config_;
  none.services = {};
  sup_->Reload(none);
  ASSERT_TRUE(RunUntil([&] { return State("a") == "absent"; }));
  EXPECT_TRUE(world_.Alive().empty());
  sup_->Reload(config_);
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  ExpectOnlyCurrentInstancesAlive({"a"});
}

// Finding 4: a start accepted after SIGTERM (while another service was still in its grace)
// started an instance that outlived the daemon's exit.
TEST_F(SupervisorTest, ShutdownRefusesNewStartsAndLeavesNothingBehind) {
  ServiceConfig manual = Svc("m");
  manual.autostart = false;
  world_.ignore_term = true;  // "a" keeps the shutdown in its grace for a while
  Boot({Svc("a"), manual});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  bool done = false;
  ShutdownReport report;
  sup_->Shutdown(false, [&](const ShutdownReport& r) {
    done = true;
    report = r;
  });
  RunFor(10ms);
  auto start = sup_->Start("m");
  ASSERT_FALSE(start);
  EXPECT_EQ(start.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(sup_->Restart("a"));
  ASSERT_TRUE(RunUntil([&] { return done; }));
  EXPECT_TRUE(report.incomplete.empty());
  EXPECT_TRUE(world_.Alive().empty());
  EXPECT_EQ(world_.spawned().size(), 1u);
}

TEST_F(SupervisorTest, ShutdownDuringAStartStopsWhatThatStartSpawned) {
  ServiceConfig slow = Svc("slow");
  slow.ready.kind = ReadyCheck::Kind::kLog;
  slow.ready.log_regex = "never printed";
  Boot({slow});
  ASSERT_TRUE(RunUntil([&] { return State("slow") == "starting" && Pid("slow") != 0; }));
  bool done = false;
  sup_->Shutdown(false, [&](const ShutdownReport&) { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  EXPECT_TRUE(world_.Alive().empty());
}

// A second Ctrl-C: what is left of the grace is skipped, SIGKILL at once.
TEST_F(SupervisorTest, HurrySkipsTheGrace) {
  ServiceConfig stubborn = Svc("a");
  stubborn.stop.grace = Millis(60000);
  world_.ignore_term = true;
  Boot({stubborn});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t pid = Pid("a");
  bool done = false;
  sup_->Shutdown(false, [&](const ShutdownReport&) { done = true; });
  RunFor(20ms);
  EXPECT_FALSE(done);
  sup_->Hurry();
  ASSERT_TRUE(RunUntil([&] { return done; }, 1000ms));
  EXPECT_EQ(world_.Find(pid)->signals, (std::vector<int>{SIGTERM, SIGKILL}));
  EXPECT_TRUE(world_.Alive().empty());
}

// GET /v1/services/{name} says what a stop waits for (the progress line of `vramguard stop`):
// the signal sent and the grace left before SIGKILL, and nothing once the stop ended.
TEST_F(SupervisorTest, AStopSaysWhatItWaitsFor) {
  ServiceConfig stubborn = Svc("a");
  stubborn.stop.grace = Millis(400);
  world_.ignore_term = true;
  Boot({stubborn});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  EXPECT_TRUE((*sup_->Status("a"))["waiting"].is_null());
  EXPECT_DOUBLE_EQ((*sup_->Status("a"))["stop_grace_s"].get<double>(), 0.4);
  ASSERT_TRUE(sup_->Stop("a"));
  ASSERT_TRUE(RunUntil([&] { return (*sup_->Status("a"))["waiting"].is_object(); }));
  RunFor(50ms);
  nlohmann::json w = (*sup_->Status("a"))["waiting"];
  EXPECT_EQ(w["for"], "exit");
  EXPECT_EQ(w["signal"], "SIGTERM");
  EXPECT_EQ(w["processes"], 1);
  EXPECT_LT(w["left_s"].get<double>(), 0.4);
  EXPECT_GT(w["left_s"].get<double>(), 0.0);
  EXPECT_GE(w["waited_s"].get<double>(), 0.04);
  ASSERT_TRUE(RunUntil([&] { return State("a") == "stopped"; }));
  EXPECT_TRUE((*sup_->Status("a"))["waiting"].is_null());
}

TEST_F(SupervisorTest, AStartSaysItWaitsForReadiness) {
  ServiceConfig slow = Svc("a");
  slow.ready.kind = ReadyCheck::Kind::kLog;
  slow.ready.log_regex = "never printed";
  Boot({slow});
  ASSERT_TRUE(RunUntil([&] { return (*sup_->Status("a"))["waiting"].is_object(); }));
  nlohmann::json w = (*sup_->Status("a"))["waiting"];
  EXPECT_EQ(w["for"], "ready");
  EXPECT_EQ(w["check"], "a log line matching /never printed/");
  EXPECT_LE(w["left_s"].get<double>(), 10.0);
  ASSERT_TRUE(sup_->Stop("a"));
  ASSERT_TRUE(RunUntil([&] { return State("a") == "stopped"; }));
  EXPECT_TRUE((*sup_->Status("a"))["waiting"].is_null());
}

// Finding 7: the classifier's merge window belonged to the log, not to the instance, so the first
// OOM of a restarted instance was folded into the last instance's incident: no event, no restart.
TEST_F(SupervisorTest, TheFirstOomOfARestartedInstanceIsItsOwnIncident) {
  const std::string oom =
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.10 GiB. GPU 0 has a total "
      "capacity of 23.65 GiB of which 1.20 GiB is free.\n";
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  auto append = [&](const std::string& text) {
    std::ofstream(dir_ / "logs" / "a.log", std::ios::app) << text;
  };
  append(oom);
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  const pid_t second = Pid("a");
  append(oom);
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", second); }));
  EventFilter f;
  f.service = "a";
  f.kind = "oom";
  auto got = store_.ListEvents(f);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 2u);
  ExpectOnlyCurrentInstancesAlive({"a"});
}

// Numbers on the lines after the decisive one (cudaMallocAsync's table): the `oom` event goes out
// at once; an `incident-updated` event names it and carries the completed numbers.
TEST_F(SupervisorTest, NumbersAfterTheDecisiveLineUpdateTheIncident) {
  ServiceConfig a = Svc("a");
  a.incidents.on_oom = OomPolicy::kIgnore;  // the instance stays: only the events matter here
  Boot({a});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  std::ofstream(dir_ / "logs" / "a.log", std::ios::app)
      << "torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of "
         "memory)\n"
         "Currently allocated     : 14.52 GiB\n"
         "Requested               : 1.88 GiB\n";
  auto events = [&](const std::string& kind) {
    EventFilter f;
    f.service = "a";
    f.kind = kind;
    auto got = store_.ListEvents(f);
    return got ? *got : std::vector<EventRecord>{};
  };
  ASSERT_TRUE(RunUntil([&] { return events("incident-updated").size() == 2; }));
  std::vector<EventRecord> oom = events("oom");
  ASSERT_EQ(oom.size(), 1u);
  EXPECT_TRUE(oom[0].data["incident"]["requested_bytes"].is_null());
  std::vector<EventRecord> updates = events("incident-updated");
  for (const EventRecord& u : updates) EXPECT_EQ(u.data["updates_event_id"], oom[0].id);
  EXPECT_EQ(updates.back().data["incident"]["requested_bytes"],
            static_cast<std::uint64_t>(std::llround(1.88 * (1ull << 30))));
  EXPECT_EQ(updates.back().data["incident"]["allocated_bytes"],
            static_cast<std::uint64_t>(std::llround(14.52 * (1ull << 30))));
  EXPECT_NE(updates.back().message.find("1.88 GiB"), std::string::npos) << updates.back().message;
}

TEST_F(SupervisorTest, ServicesGetUnbufferedPythonUnlessTheyOptOut) {
  ServiceConfig opt_out = Svc("b");
  opt_out.env["PYTHONUNBUFFERED"] = "";
  Boot({Svc("a"), opt_out});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running" && State("b") == "running"; }));
  ASSERT_EQ(world_.specs().size(), 2u);
  for (const SpawnSpec& spec : world_.specs()) {
    const bool is_a = spec.instance_tag.find('a') != std::string::npos &&
                      spec.env.count("PYTHONUNBUFFERED") && spec.env.at("PYTHONUNBUFFERED") == "1";
    const bool is_b = spec.env.count("PYTHONUNBUFFERED") && spec.env.at("PYTHONUNBUFFERED").empty();
    EXPECT_TRUE(is_a || is_b);
  }
}

// Issue 12: membership is the daemon's own tree, walked through the children lists. Workers and
// the workers' orphans are members; status and stop never read the whole process table (the
// one whole-table read is the boot scan for strays).
TEST_F(SupervisorTest, WorkersAndTheirOrphansAreMembersWithoutReadingTheMachine) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t main = Pid("a");
  const pid_t worker = world_.Fork(main);
  const pid_t grandchild = world_.Fork(worker);
  const pid_t escaped = world_.Fork(worker);
  world_.Exit(worker, 0);  // its children go to the subreaper: the daemon
  auto j = sup_->Status("a");
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["members"], nlohmann::json({main, grandchild, escaped}));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sup_->StatusAll().is_array());
  ASSERT_TRUE(sup_->Stop("a"));
  ASSERT_TRUE(RunUntil([&] { return State("a") == "stopped"; }));
  EXPECT_TRUE(world_.Alive().empty());
  EXPECT_EQ(world_.Find(grandchild)->signals, std::vector<int>{SIGTERM});
  EXPECT_EQ(world_.Find(escaped)->signals, std::vector<int>{SIGTERM});
  EXPECT_LE(world_.lists, 1) << "a routine operation read the whole process table";
}

// A crash leaves the workers behind: they are members of no instance now, but carry its tag and
// are in the daemon's tree, so the crash handling reaps them before the restart.
TEST_F(SupervisorTest, WorkersLeftByACrashAreReapedBeforeTheRestart) {
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t first = Pid("a");
  const pid_t worker = world_.Fork(first);
  world_.Exit(first, 1 << 8);
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", first); }));
  EXPECT_FALSE(world_.Find(worker)->alive);
  ExpectOnlyCurrentInstancesAlive({"a"});
  EXPECT_LE(world_.lists, 1);
}

// Processes an earlier daemon (same state directory) left outside this daemon's tree are found by
// a whole-table read and swept before the service starts; once none is left, questions walk.
TEST_F(SupervisorTest, StraysOfAnEarlierDaemonAreSweptThenTheWalkTakesOver) {
  const std::string old_tag = FormatInstanceTag("a", DaemonId(dir_.string()), 0x1234);
  const pid_t stray = world_.Fork(1, old_tag);    // under init, not under us
  const pid_t strays_child = world_.Fork(stray);  // inherits the tag
  const pid_t foreign = world_.Fork(1, std::string("a.00000000-000000000000"));  // another daemon's
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  EXPECT_FALSE(world_.Find(stray)->alive);
  EXPECT_FALSE(world_.Find(strays_child)->alive);
  EXPECT_TRUE(world_.Find(foreign)->alive);
  ASSERT_TRUE(sup_->StatusAll().is_array());
  const int lists = world_.lists;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sup_->StatusAll().is_array());
  EXPECT_EQ(world_.lists, lists) << "nothing of ours is outside the tree: no whole-table read";
}

// Chaos finding 11 (seed 1001, fault 62): an instance re-adopted after a daemon restart lives
// outside the daemon's tree, so a process it double-forks goes to init, where no walk reaches it.
// Its restart must still stop that escapee (it is found by its tag in the whole table).
TEST_F(SupervisorTest, AnEscapeeOfAnAdoptedInstanceIsStoppedWithIt) {
  const std::string tag = FormatInstanceTag("a", DaemonId(dir_.string()), 0x77);
  const pid_t main = world_.Fork(1, tag);
  InstanceRecord rec;
  rec.service = "a";
  rec.tag = tag;
  rec.pid = main;
  rec.start_time = world_.Find(main)->start_time;
  ASSERT_TRUE(store_.PutInstance(rec));
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  ASSERT_EQ(Pid("a"), main);
  const pid_t escapee = world_.Fork(1, tag);  // double-forked by main: now a child of init
  ASSERT_TRUE(sup_->Restart("a"));
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", main); }));
  EXPECT_FALSE(world_.Find(main)->alive);
  EXPECT_FALSE(world_.Find(escapee)->alive);
  ExpectOnlyCurrentInstancesAlive({"a"});
  ASSERT_TRUE(sup_->StatusAll().is_array());
  const int lists = world_.lists;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sup_->StatusAll().is_array());
  EXPECT_EQ(world_.lists, lists) << "the new instance is in our tree: questions walk again";
}

// Issue 12: an instance re-adopted after a daemon restart lives outside the daemon's tree. With
// the kernel's process events its forks are followed (a double-forked escapee included) from the
// one boot read on: status, restart and stop never read the whole table again.
TEST_F(SupervisorTest, AnAdoptedInstanceIsFollowedByProcessEventsNotTableReads) {
  with_events_ = true;
  const std::string tag = FormatInstanceTag("a", DaemonId(dir_.string()), 0x78);
  const pid_t main = LeftRunning("a", tag);
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  ASSERT_EQ(Pid("a"), main);
  const int boot_lists = world_.lists;
  EXPECT_EQ(world_.event_opens, 1);
  const pid_t middle = world_.Fork(main);
  const pid_t escapee = world_.Fork(middle);  // under init: only the fork event says it exists
  world_.Exit(middle, 0);                     // the escapee goes to init, out of every walk
  ASSERT_EQ(world_.Find(escapee)->parent, 1);
  auto j = sup_->Status("a");
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["members"], nlohmann::json({main, escapee}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sup_->StatusAll().is_array());
  EXPECT_EQ(world_.lists, boot_lists) << "followed by events: no whole-table read";
  ASSERT_TRUE(sup_->Restart("a"));
  ASSERT_TRUE(RunUntil([&] { return RunningWith("a", main); }));
  EXPECT_FALSE(world_.Find(main)->alive);
  EXPECT_FALSE(world_.Find(escapee)->alive);
  ExpectOnlyCurrentInstancesAlive({"a"});
  EXPECT_EQ(world_.lists, boot_lists) << "the restart needed no whole-table read either";
}

// The kernel dropped events (its socket buffer overflowed): one table read puts the set right
// (the escapee is found as a descendant of the adopted instance there), then events again.
TEST_F(SupervisorTest, LostProcessEventsCostOneTableRead) {
  with_events_ = true;
  const std::string tag = FormatInstanceTag("a", DaemonId(dir_.string()), 0x79);
  const pid_t main = LeftRunning("a", tag);
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t worker = world_.Fork(main, std::string());
  world_.lose_events = true;  // the fork of `worker` among what was dropped
  const int lists = world_.lists;
  ASSERT_TRUE(sup_->StatusAll().is_array());
  EXPECT_EQ(world_.lists, lists + 1) << "the resynchronising read";
  auto j = sup_->Status("a");
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["members"], nlohmann::json({main, worker}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sup_->StatusAll().is_array());
  EXPECT_EQ(world_.lists, lists + 1);
}

// Without the privilege the connector needs, the daemon reads the table while strays live, as
// before, and asks the kernel only once.
TEST_F(SupervisorTest, WithoutProcessEventsStraysAreFoundByTableReads) {
  with_events_ = true;
  world_.refuse_events = true;
  const std::string tag = FormatInstanceTag("a", DaemonId(dir_.string()), 0x7a);
  const pid_t main = LeftRunning("a", tag);
  Boot({Svc("a")});
  ASSERT_TRUE(RunUntil([&] { return State("a") == "running"; }));
  const pid_t escapee = world_.Fork(1, tag);  // tagged: the table read finds it
  const int lists = world_.lists;
  auto j = sup_->Status("a");
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["members"], nlohmann::json({main, escapee}));
  EXPECT_GT(world_.lists, lists);
  EXPECT_EQ(world_.event_opens, 1) << "tried once, not on every question";
}

}  // namespace
}  // namespace vg
