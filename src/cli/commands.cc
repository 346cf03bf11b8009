#include "cli/commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/daemon_client.h"
#include "cli/machine.h"
#include "cli/progress.h"
#include "cli/render.h"
#include "clock/clock.h"
#include "core/reap_plan.h"
#include "ops/observe.h"
#include "ops/reaper.h"

namespace vg {
namespace {

unsigned TerminalWidth() {
  if (!isatty(STDOUT_FILENO)) return 0;
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 120;
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

Result<pid_t> ParsePid(const std::string& s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0 || v > 4194304) {
    return Fail(ErrorCode::kInvalidArgument, "invalid PID '" + s + "'",
                "a PID is a positive number; see `vramguard ps`");
  }
  return static_cast<pid_t>(v);
}

bool Confirm(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

std::string ReapWaitKey(const ReapWait& w) { return w.killed ? "killed" : "term"; }

std::string ReapWaitText(const ReapWait& w) {
  const std::string n = fmt::format("{} process{}", w.alive, w.alive == 1 ? "" : "es");
  if (w.killed) return "SIGKILL sent; waiting for " + n + " to exit";
  const auto left = std::chrono::ceil<std::chrono::seconds>(w.left).count();
  return fmt::format("SIGTERM sent, {}s left before SIGKILL ({} still running)", left, n);
}

Result<int> RunGpus(const GpusOptions& o) {
  auto probe = NvmlProbe::Open(NvmlOptions{});
  if (!probe) return std::unexpected(probe.error());
  auto snap = (*probe)->Snapshot();
  if (!snap) return std::unexpected(snap.error());
  if (o.json) {
    PrintJson(GpusJson(*snap, (*probe)->library()));
  } else {
    std::cout << RenderGpus(*snap);
  }
  return 0;
}

Result<int> RunPs(const PsOptions& o) {
  Machine m;
  auto obs = m.Look(TableRows::kHolders);
  if (!obs) return std::unexpected(obs.error());
  // Which supervised service each process belongs to, when a daemon answers (briefly: `ps`
  // never waits on a daemon that does not; without one there is no SERVICE column).
  ServiceOwners owners;
  if (auto api = DaemonApi()) {
    if (auto st = api->Request("GET", "/v1/status", std::nullopt, std::chrono::milliseconds(500));
        st && st->status == 200) {
      owners = OwnersFromStatus(st->json);
    }
  }
  if (o.json) {
    PrintJson(PsJson(obs->view, o.all, owners));
  } else {
    std::cout << RenderPs(obs->view, o.all, TerminalWidth(), owners);
  }
  return 0;
}

Result<int> RunReap(const ReapOptionsCli& o) {
  int modes = (o.pids.empty() ? 0 : 1) + (o.ghosts ? 1 : 0) + (o.orphans ? 1 : 0) +
              (o.service.empty() ? 0 : 1);
  if (modes != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "reap needs exactly one target: --pid PID…, --ghosts, --orphans or --service NAME",
                "see `vramguard ps` for who holds VRAM");
  }
  if (!o.service.empty()) {
    // A supervised service's processes are the daemon's to stop: it knows every member (its
    // tree, tag and cgroup) and verifies the memory came back. Same output as `vramguard stop`.
    if (o.dry_run) {
      return Fail(ErrorCode::kInvalidArgument, "--dry-run does not apply to --service",
                  "`vramguard status " + o.service + " --json` lists the service's members");
    }
    return RunServiceOp("stop", o.service, /*wait=*/true, "15m", ClientOptions{.json = o.json});
  }
  ReapRequest request;
  std::string what;
  if (o.ghosts) {
    request.mode = ReapMode::kGhosts;
    what = "--ghosts";
  } else if (o.orphans) {
    request.mode = ReapMode::kOrphans;
    what = "--orphans";
  } else {
    request.mode = ReapMode::kPids;
    what = "--pid";
    for (const std::string& s : o.pids) {
      auto pid = ParsePid(s);
      if (!pid) return std::unexpected(pid.error());
      request.pids.push_back(*pid);
      what += " " + s;
    }
  }
  ReapOptions options;
  auto grace = ParseDuration(o.grace);
  if (!grace) return std::unexpected(grace.error());
  auto timeout = ParseDuration(o.timeout);
  if (!timeout) return std::unexpected(timeout.error());
  options.grace = *grace;
  options.release_timeout = *timeout;
  const bool confirm_on_terminal = !o.yes && !o.dry_run;
  if (confirm_on_terminal && !isatty(STDIN_FILENO)) {
    return Fail(ErrorCode::kInvalidArgument,
                "reap asks for confirmation, but stdin is not a terminal",
                "pass --yes to reap without asking, or --dry-run to see the plan");
  }

  Machine m;
  auto planned = PlanReapNow(m, request);
  if (!planned) return std::unexpected(planned.error());
  ReapPlan* plan = &planned->plan;

  const std::string mode = request.mode == ReapMode::kGhosts    ? "ghosts"
                           : request.mode == ReapMode::kOrphans ? "orphans"
                                                                : "pid";
  if (o.dry_run || plan->targets.empty()) {
    if (o.json) {
      PrintJson(ReapJson(mode, o.dry_run, *plan, nullptr));
    } else {
      std::cout << RenderReapPlan(*plan, what);
      if (o.dry_run && !plan->targets.empty()) std::cout << "dry run: nothing was signalled\n";
    }
    return 0;
  }
  if (!o.json) std::cout << RenderReapPlan(*plan, what) << std::flush;
  if (confirm_on_terminal && !Confirm("Reap these processes?")) {
    std::fprintf(stderr, "vramguard: not confirmed; nothing was signalled\n");
    return 1;
  }

  ProgressLine progress = ProgressLine::ForStderr(o.json);
  options.on_wait = [&](const ReapWait& w) { progress.Update(ReapWaitKey(w), ReapWaitText(w)); };
  ReapOutcome outcome = ExecuteReap(m, *planned, options, [&](ReapPhase, const std::string& s) {
    if (!o.json) progress.Above([&] { std::cout << s << "\n" << std::flush; });
  });
  progress.Keep();
  if (o.json) {
    PrintJson(ReapJson(mode, false, *plan, &outcome));
  } else {
    std::cout << RenderReapOutcome(outcome);
  }
  if (!outcome.verified) {
    // Say who still holds what did not come back.
    std::string holders;
    if (auto again = m.Look(TableRows::kHolders)) {
      for (const GpuRelease& g : outcome.gpus) {
        for (pid_t listed : g.still_listed) {
          for (auto [gv, e] : again->view.EntriesFor(listed)) {
            holders += " " + std::to_string(listed) + " on GPU " + std::to_string(gv->gpu.index);
            if (e->role == Role::kGhost && !e->holders.empty()) {
              holders += " (held by";
              for (pid_t h : e->holders) holders += " " + std::to_string(h);
              holders += ")";
            }
          }
        }
      }
    }
    if (!outcome.survivors.empty()) {
      return Fail(ErrorCode::kTimeout, "some targets survived SIGKILL (stuck in the kernel?)",
                  "see `vramguard ps`; a process in D state exits when its I/O completes");
    }
    std::fprintf(stderr, "vramguard: memory did not come back in time;%s%s\n",
                 holders.empty() ? " " : " still held:",
                 holders.empty() ? "see `vramguard ps`" : holders.c_str());
    return kExitMemoryNotBack;
  }
  return 0;
}

}  // namespace vg
