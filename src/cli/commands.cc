#include "cli/commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>

#include "cli/render.h"
#include "clock/clock.h"
#include "core/reap_plan.h"
#include "gpu/nvml_probe.h"
#include "ops/observe.h"
#include "ops/reaper.h"
#include "proc/pidfd_signaller.h"
#include "proc/procfs.h"

namespace vg {
namespace {

unsigned TerminalWidth() {
  if (!isatty(STDOUT_FILENO)) return 0;
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 120;
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

// The production adapters of a one-shot command.
struct Machine {
  ProcfsSource procs{"/proc", DeviceDir()};
  std::unique_ptr<NvmlProbe> nvml;
  std::optional<Error> nvml_error;

  // The driver opens on a thread of its own while the first Look reads /proc: nvmlInit takes
  // tens to hundreds of milliseconds on a real driver without persistence mode, about as long as
  // the pass itself. nvml and nvml_error are set once Driver() returned.
  Machine()
      : opening_(std::async(std::launch::async, [] { return NvmlProbe::Open(NvmlOptions{}); })) {}

  // Waits for the driver to be open (or to have failed to open).
  void Driver() {
    if (!opening_.valid()) return;
    auto probe = opening_.get();
    if (probe) {
      nvml = std::move(*probe);
    } else {
      nvml_error = probe.error();
    }
  }

  // rows: kAll where the whole table is needed (reap), kHolders for the view alone (ps).
  Result<MachineLook> Look(TableRows rows = TableRows::kAll) {
    return Observe(
        [this] {
          Driver();
          return GpuAccess{nvml.get(), nvml_error};
        },
        procs, getpid(), rows);
  }

 private:
  std::future<Result<std::unique_ptr<NvmlProbe>>> opening_;
};

Result<pid_t> ParsePid(const std::string& s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0 || v > 4194304) {
    return Fail(ErrorCode::kInvalidArgument, "invalid PID '" + s + "'",
                "a PID is a positive number; see `vramguard ps`");
  }
  return static_cast<pid_t>(v);
}

// Stands in for the driver when there is none: processes can still be reaped, not verified.
class UnavailableProbe final : public GpuProbe {
 public:
  explicit UnavailableProbe(Error e) : error_(std::move(e)) {}
  Result<GpuSnapshot> Snapshot() override { return std::unexpected(error_); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

bool Confirm(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

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
  if (o.json) {
    PrintJson(PsJson(obs->view, o.all));
  } else {
    std::cout << RenderPs(obs->view, o.all, TerminalWidth());
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
    return Fail(ErrorCode::kInvalidArgument,
                "--service needs the supervisor daemon, which this build does not have yet",
                "reap the service's processes with --pid (see `vramguard ps`)");
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
  auto obs = m.Look();
  if (!obs) return std::unexpected(obs.error());
  Caller caller{getpid(), geteuid(), AncestorsOf(getpid(), obs->table)};
  auto plan = PlanReap(obs->view, obs->table, request, caller);
  if (!plan) return std::unexpected(plan.error());
  for (ReapTarget& t : plan->targets) {  // descendants were planned from the cheap table
    if (auto p = m.procs.Get(t.pid); p && p->start_time == t.start_time)
      t.command = p->CommandLine();
  }

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

  PidfdSignaller signaller;
  SystemClock clock;
  m.Driver();
  UnavailableProbe no_driver(m.nvml_error.value_or(Error{}));
  GpuProbe& gpu = m.nvml ? static_cast<GpuProbe&>(*m.nvml) : no_driver;
  if (!m.nvml) {
    plan->releases.clear();
    plan->notes.push_back("memory cannot be verified: " + no_driver.error().message);
  }
  Reaper reaper(signaller, gpu, clock);
  ReapOutcome outcome =
      reaper.Execute(*plan, obs->snapshot, options, [&](ReapPhase, const std::string& s) {
        if (!o.json) std::cout << s << "\n" << std::flush;
      });
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
