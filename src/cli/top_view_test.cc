#include "cli/top_view.h"

#include <gtest/gtest.h>

#include "cli/progress.h"
#include "testing/fakes.h"

namespace vg {
namespace {

using nlohmann::json;
using testing::MakeGpu;
using testing::MakeProcess;

// GPU 0: a service's process 700 (8 GiB), a foreign one 800 (2 GiB) with a very long command
// line, and a ghost 526 (10 GiB) held by its forked worker 547.
TopData Sample() {
  VramViewInput in;
  GpuInfo g = MakeGpu(0, Bytes::GiB(24),
                      {{526, Bytes::GiB(10)}, {700, Bytes::GiB(8)}, {800, Bytes::GiB(2)}});
  g.name = "Sim GPU";
  g.used = Bytes::GiB(20);
  g.free = Bytes::GiB(4);
  in.snapshot.gpus.push_back(g);
  ProcessInfo worker = MakeProcess(547, 1, "python3");
  worker.sid = 526;
  worker.pgid = 526;
  worker.argv = {"python3", "worker.py"};
  ProcessInfo svc = MakeProcess(700, 650, "vg-demo-service");
  ProcessInfo foreign = MakeProcess(800, 650, "python3");
  foreign.argv = {"python3", "train.py", "--config", std::string(300, 'x')};
  in.processes = {MakeProcess(1, 0, "systemd", 0), worker, MakeProcess(650, 1, "vramguard"), svc,
                  foreign};
  in.holders.holders = {{547, {0}, {0}, true}, {700, {0}, {0}, true}, {800, {0}, {0}, true}};
  in.self = 999;
  TopData d;
  d.view = BuildVramView(in);
  d.status = json{{"daemon", {{"pid", 650}, {"summary", "1 service: 1 running"}}},
                  {"services",
                   {{{"name", "i2v"},
                     {"state", "running"},
                     {"detail", "ready at http://127.0.0.1:8188"},
                     {"pid", 700},
                     {"members", {700}},
                     {"vram_bytes", {{"0", Bytes::GiB(8).count()}}},
                     {"jobs", {{"queued", 1}, {"running", 1}}}}}}};
  d.jobs = json::array({json{{"id", 12},
                             {"service", "i2v"},
                             {"state", "running"},
                             {"gpu", 0},
                             {"vram_bytes", Bytes::GiB(1).count()},
                             {"estimate_bytes", Bytes::GiB(2).count()},
                             {"params", {{"frames", 16}}}},
                        json{{"id", 13},
                             {"service", "i2v"},
                             {"state", "queued"},
                             {"position", 1},
                             {"eta_s", 1.14},
                             {"eta_basis", "median of the last 3 i2v jobs: 1.00 s"},
                             {"estimate_bytes", Bytes::GiB(2).count()},
                             {"params", {{"frames", 8}}}}});
  d.clock = "12:00:00";
  return d;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

const std::string* LineWith(const std::vector<std::string>& lines, const std::string& what) {
  for (const std::string& l : lines) {
    if (l.find(what) != std::string::npos) return &l;
  }
  return nullptr;
}

TEST(TopView, ShowsGpuBarServiceProcessesAndJobs) {
  TopLayout l;
  l.width = 200;
  std::vector<std::string> lines = RenderTop(Sample(), l);
  const std::string all = Joined(lines);
  EXPECT_NE(all.find("GPU 0 Sim GPU ["), std::string::npos) << all;
  EXPECT_NE(all.find("20.0 GiB / 24.0 GiB used, 4.0 GiB free"), std::string::npos) << all;
  EXPECT_NE(all.find("daemon pid 650"), std::string::npos);
  const std::string* svc = LineWith(lines, "i2v ");
  ASSERT_TRUE(svc);
  EXPECT_NE(svc->find("running"), std::string::npos);
  EXPECT_NE(svc->find("8.0 GiB"), std::string::npos);
  EXPECT_NE(svc->find("1/1"), std::string::npos);
  const std::string* ghost = LineWith(lines, "GHOST");
  ASSERT_TRUE(ghost) << all;
  EXPECT_NE(ghost->find("526"), std::string::npos);
  EXPECT_NE(ghost->find("held by 547 python3 worker.py"), std::string::npos) << *ghost;
  // Owners: the service's member, a foreign process.
  EXPECT_NE(LineWith(lines, "700")->find("i2v"), std::string::npos);
  EXPECT_NE(LineWith(lines, "train.py")->find("foreign"), std::string::npos);
  const std::string* queued = LineWith(lines, "queued");
  ASSERT_TRUE(queued);
  EXPECT_NE(queued->find("~1.1s"), std::string::npos) << *queued;  // its ETA
  EXPECT_NE(all.find("frames=16"), std::string::npos);
  EXPECT_EQ(all.find('\033'), std::string::npos);  // no colour unless asked
}

TEST(TopView, EveryLineFitsTheWidth) {
  for (unsigned width : {40u, 80u, 200u}) {
    TopLayout l;
    l.width = width;
    l.message = std::string(500, 'm');
    for (const std::string& line : RenderTop(Sample(), l)) {
      EXPECT_LE(Columns(line), width) << "width " << width << ": " << line;
    }
  }
  // The long command is cut with "…" at 80 columns, whole at no limit.
  TopLayout narrow;
  narrow.width = 80;
  EXPECT_NE(LineWith(RenderTop(Sample(), narrow), "train.py")->find("…"), std::string::npos);
  TopLayout wide;
  wide.width = 0;
  EXPECT_NE(LineWith(RenderTop(Sample(), wide), "train.py")->find(std::string(300, 'x')),
            std::string::npos);
}

TEST(TopView, GhostHighlightedWithColourAndNamedWithout) {
  TopLayout l;
  l.width = 120;
  l.color = true;
  std::vector<std::string> lines = RenderTop(Sample(), l);
  const std::string* ghost = LineWith(lines, "GHOST");
  ASSERT_TRUE(ghost);
  EXPECT_EQ(ghost->rfind("\033[1;31m", 0), 0u) << *ghost;  // bold red
  EXPECT_EQ(LineWith(lines, "train.py")->find("\033[1;31m"), std::string::npos);
  l.color = false;  // NO_COLOR: not one escape sequence, the ghost still stands out by name
  const std::string plain = Joined(RenderTop(Sample(), l));
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  EXPECT_NE(plain.find("GHOST"), std::string::npos);
}

TEST(TopView, SelectionIsMarkedAndRowsAreServicesThenProcesses) {
  TopData d = Sample();
  std::vector<TopRow> rows = TopRows(d);
  ASSERT_EQ(rows.size(), 5u);  // i2v, then 526 (ghost), 700, 800, and the holder 547
  EXPECT_EQ(rows[0].key, "service:i2v");
  EXPECT_EQ(rows[1].pid, 526);
  EXPECT_TRUE(rows[1].ghost);
  EXPECT_EQ(rows[1].holders, std::vector<pid_t>{547});
  EXPECT_EQ(rows[2].service, "i2v");  // r and s on a service's process act on the service
  EXPECT_EQ(rows[3].service, "");
  EXPECT_EQ(rows[4].pid, 547);
  EXPECT_FALSE(rows[4].ghost);
  TopLayout l;
  l.width = 120;
  l.selected = rows[1].key;
  std::vector<std::string> lines = RenderTop(d, l);
  EXPECT_EQ(LineWith(lines, "GHOST")->rfind(">", 0), 0u);
  EXPECT_EQ(LineWith(lines, "train.py")->rfind(" ", 0), 0u);
  l.color = true;
  lines = RenderTop(d, l);
  EXPECT_NE(LineWith(lines, "GHOST")->find("\033[7m"), std::string::npos);  // reverse video
}

TEST(TopView, ListsAreCutToTheHeightSayingHowManyAreHidden) {
  TopData d = Sample();
  for (int i = 0; i < 30; ++i) {
    d.jobs.push_back(json{{"id", 100 + i}, {"service", "i2v"}, {"state", "queued"}});
  }
  TopLayout l;
  l.width = 100;
  l.height = 20;
  l.message = "the message";
  std::vector<std::string> lines = RenderTop(d, l);
  EXPECT_LE(lines.size(), 20u);
  EXPECT_TRUE(LineWith(lines, "more"));
  EXPECT_EQ(lines.back(), "the message");  // the key and message lines stay
  EXPECT_TRUE(LineWith(lines, "GHOST"));   // the processes were not cut for the jobs
}

TEST(TopView, WithoutADaemonSaysSo) {
  TopData d = Sample();
  d.status.reset();
  d.jobs = json::array();
  d.daemon_note = "no daemon at /run/vg.sock";
  TopLayout l;
  l.width = 120;
  std::vector<std::string> lines = RenderTop(d, l);
  EXPECT_NE(lines[0].find("no daemon at /run/vg.sock"), std::string::npos);
  EXPECT_FALSE(LineWith(lines, "SERVICE"));
  EXPECT_EQ(TopRows(d).size(), 4u);
  EXPECT_TRUE(TopJson(d)["services"].is_null());
  EXPECT_EQ(TopJson(d)["gpus"][0]["processes"].size(), 4u);  // 526, 547, 700, 800
}

TEST(TopView, UnknownEtaIsAQuestionMark) {
  TopData d = Sample();
  d.jobs[1]["eta_s"] = nullptr;
  d.jobs[1]["eta_basis"] = "unknown: no i2v job has finished since the daemon started";
  TopLayout l;
  l.width = 120;
  std::vector<std::string> lines = RenderTop(d, l);
  const std::string* queued = LineWith(lines, "queued");
  ASSERT_TRUE(queued);
  EXPECT_NE(queued->find(" ?  "), std::string::npos) << *queued;
  EXPECT_EQ(queued->find("~"), std::string::npos);
}

TEST(TopView, MemoryBar) {
  EXPECT_EQ(MemoryBar(Bytes::GiB(12), Bytes::GiB(24), 12), "[█████░░░░░]");
  EXPECT_EQ(MemoryBar(Bytes(0), Bytes::GiB(24), 6), "[░░░░]");
  EXPECT_EQ(MemoryBar(Bytes(1), Bytes::GiB(24), 6), "[█░░░]");  // any use shows
  EXPECT_EQ(MemoryBar(Bytes::GiB(30), Bytes::GiB(24), 4), "[██]");
}

}  // namespace
}  // namespace vg
