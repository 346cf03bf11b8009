#include "cli/progress.h"

#include <gtest/gtest.h>

#include "cli/commands.h"
#include "cli/daemon_client.h"
#include "cli/jobs_client.h"

namespace vg {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct ProgressRig {
  SteadyTime now{std::chrono::seconds(100)};
  std::string out;
  ProgressLine Make(ProgressLine::Mode mode, unsigned width = 0) {
    ProgressLine::Options o;
    o.mode = mode;
    o.write = [this](std::string_view s) { out += s; };
    o.now = [this] { return now; };
    o.width = width;
    return ProgressLine(o);
  }
};

TEST(ProgressLine, TerminalRewritesInPlaceAtMostFourTimesASecond) {
  ProgressRig rig;
  ProgressLine p = rig.Make(ProgressLine::Mode::kTerminal);
  p.Update("wait", "waiting 0");
  EXPECT_EQ(rig.out, "");  // a wait shorter than a second shows nothing
  rig.now += 1s;
  p.Update("wait", "waiting 1");
  EXPECT_EQ(rig.out, "\r\033[Kwaiting 1");
  rig.now += 100ms;
  p.Update("wait", "waiting 2");  // too soon: not drawn
  EXPECT_EQ(rig.out, "\r\033[Kwaiting 1");
  rig.now += 200ms;
  p.Update("wait", "waiting 3");
  EXPECT_EQ(rig.out, "\r\033[Kwaiting 1\r\033[Kwaiting 3");
  rig.out.clear();
  p.Above([&] { rig.out += "[event]\n"; });  // a line printed above the live one
  EXPECT_EQ(rig.out, "\r\033[K[event]\n\r\033[Kwaiting 3");
  rig.out.clear();
  p.Done("done in 2s");
  EXPECT_EQ(rig.out, "\r\033[Kdone in 2s\n");  // the final line is kept
}

TEST(ProgressLine, KeepLeavesTheLastLineOnTheTerminal) {
  ProgressRig rig;
  ProgressLine p = rig.Make(ProgressLine::Mode::kTerminal);
  p.Update("wait", "short wait");
  p.Keep();  // nothing was drawn (under a second): nothing to keep
  EXPECT_EQ(rig.out, "");
  ProgressLine q = rig.Make(ProgressLine::Mode::kTerminal);
  rig.now += 2s;
  q.Update("wait", "waited 2s");
  q.Keep();
  EXPECT_EQ(rig.out, "\r\033[Kwaited 2s\n");
  q.Keep();  // once
  EXPECT_EQ(rig.out, "\r\033[Kwaited 2s\n");
}

TEST(ProgressLine, TerminalLineIsCutToTheWidth) {
  ProgressRig rig;
  ProgressLine p = rig.Make(ProgressLine::Mode::kTerminal, 10);
  rig.now += 2s;
  p.Update("k", "0123456789abcdef");
  EXPECT_EQ(rig.out, "\r\033[K012345678…");
}

TEST(ProgressLine, PlainWritesALineOnlyWhenTheStateChanges) {
  ProgressRig rig;
  ProgressLine p = rig.Make(ProgressLine::Mode::kPlain);
  rig.now += 1s;
  p.Update("vram", "waiting for VRAM (1s)");
  p.Update("vram", "waiting for VRAM (2s)");  // same state: nothing
  EXPECT_EQ(rig.out, "waiting for VRAM (1s)\n");
  rig.now += 1s;
  p.Update("ready", "waiting for readiness (1s)");  // changed, but too soon after the last
  EXPECT_EQ(rig.out, "waiting for VRAM (1s)\n");
  rig.now += 3s;
  p.Update("ready", "waiting for readiness (4s)");
  EXPECT_EQ(rig.out, "waiting for VRAM (1s)\nwaiting for readiness (4s)\n");
  EXPECT_EQ(rig.out.find('\r'), std::string::npos);
}

TEST(ProgressLine, SilentWithJson) {
  ProgressRig rig;
  ProgressLine p = rig.Make(ProgressLine::Mode::kSilent);
  rig.now += 5s;
  p.Update("k", "text");
  p.Done("done");
  p.Above([] {});
  EXPECT_EQ(rig.out, "");
  EXPECT_EQ(ProgressLine::ModeFor(true), ProgressLine::Mode::kSilent);
}

TEST(ProgressText, ServiceWaitingForVramNamesHoldersAndMissingBytes) {
  json s = {
      {"state", "waiting-for-vram"},
      {"waiting",
       {{"for", "vram"},
        {"waited_s", 12.4},
        {"left_s", 887.6},
        {"missing_bytes", 3221225472ull},
        {"gpus",
         {{{"index", 0},
           {"missing_bytes", 3221225472ull},
           {"holders", {{{"pid", 42}, {"bytes", 17179869184ull}, {"label", "hog (pid 42)"}}}}}}}}}};
  EXPECT_EQ(ServiceWaitText(s, 13),
            "waiting for VRAM: 3.0 GiB missing on GPU 0; held by hog (pid 42) 16.0 GiB (waited "
            "12s, gives up in 14m47s)");
  EXPECT_EQ(ServiceWaitKey(s), "waiting-vram-");
}

TEST(ProgressText, ServiceStopCountdownAndReadiness) {
  json stop = {
      {"waiting", {{"for", "exit"}, {"signal", "SIGTERM"}, {"left_s", 6.2}, {"processes", 2}}}};
  EXPECT_EQ(ServiceWaitText(stop, 4),
            "SIGTERM sent, 7s left before SIGKILL (2 processes still running)");
  json killed = {
      {"waiting", {{"for", "exit"}, {"signal", "SIGKILL"}, {"waited_s", 3.2}, {"processes", 1}}}};
  EXPECT_EQ(ServiceWaitText(killed, 4), "SIGKILL sent; waiting for 1 process to exit (3s)");
  json ready = {{"waiting",
                 {{"for", "ready"},
                  {"check", "TCP port 8188 accepting"},
                  {"waited_s", 3.0},
                  {"left_s", 177.0}}}};
  EXPECT_EQ(ServiceWaitText(ready, 4),
            "waiting for readiness: TCP port 8188 accepting (waited 3s, gives up in 2m57s)");
  json none = {{"state", "starting"}, {"detail", "spawning"}, {"waiting", nullptr}};
  EXPECT_EQ(ServiceWaitText(none, 2.5), "starting: spawning (2s)");
}

TEST(ProgressText, JobQueuedWithHonestEta) {
  json q = {{"id", 7},
            {"state", "queued"},
            {"position", 2},
            {"eta_s", 1.1},
            {"eta_basis", "median of the last 3 i2v jobs: 1.00 s"}};
  EXPECT_EQ(JobWaitText(q, 2),
            "job 7 queued, position 2, eta ~1.1s (median of the last 3 i2v jobs: 1.00 s) (waited "
            "2s)");
  json unknown = {{"id", 7},
                  {"state", "queued"},
                  {"position", 1},
                  {"eta_s", nullptr},
                  {"eta_basis", "unknown: no i2v job has finished since the daemon started"}};
  EXPECT_EQ(JobWaitText(unknown, 2),
            "job 7 queued, position 1, eta unknown (no i2v job has finished since the daemon "
            "started) (waited 2s)");
  json running = {{"id", 7},
                  {"state", "running"},
                  {"gpu", 0},
                  {"vram_bytes", 2147483648ull},
                  {"estimate_bytes", 3221225472ull}};
  EXPECT_EQ(JobWaitText(running, 2), "job 7 running on GPU 0, VRAM 2.0 GiB now, estimate 3.0 GiB");
}

TEST(ProgressText, ReapGraceCountdown) {
  ReapWait w;
  w.alive = 2;
  w.left = 6200ms;
  EXPECT_EQ(ReapWaitText(w), "SIGTERM sent, 7s left before SIGKILL (2 processes still running)");
  w.killed = true;
  w.alive = 1;
  EXPECT_EQ(ReapWaitText(w), "SIGKILL sent; waiting for 1 process to exit");
  EXPECT_NE(ReapWaitKey(w), ReapWaitKey(ReapWait{}));
}

TEST(ProgressText, WaitedAndColumns) {
  EXPECT_EQ(WaitedText(0.4), "0s");
  EXPECT_EQ(WaitedText(65), "1m05s");
  EXPECT_EQ(WaitedText(7380), "2h03m");
  EXPECT_EQ(Columns("█░…"), 3u);
  EXPECT_EQ(FitColumns("█████", 3), "██…");
  EXPECT_EQ(FitColumns("abc", 3), "abc");
  EXPECT_EQ(FitColumns("abc", 0), "abc");
}

}  // namespace
}  // namespace vg
