// vramguard: who holds VRAM, and getting it back.
//
// main is a list of steps: build the subcommand table, parse, run the chosen command, turn its
// Result into output and an exit status. Nothing below main prints an error or exits.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>

#include "cli/commands.h"

namespace {

// One line on stderr: what went wrong and what to do about it.
int Report(const vg::Error& e) {
  std::string line = "vramguard: " + e.message;
  if (!e.hint.empty()) line += "; " + e.hint;
  std::fprintf(stderr, "%s\n", line.c_str());
  return vg::ExitStatusFor(e.code);
}

// CLI11's multi-line parse errors, folded into the one-line form.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vramguard: see exactly who holds GPU memory, and get it back"};
  app.set_version_flag("--version", std::string("vramguard ") + VRAMGUARD_VERSION);
  app.require_subcommand(1);
  std::function<vg::Result<int>()> run;

  // The subcommand table (docs/cli.md). Each entry: its flags, and what runs.
  vg::GpusOptions gpus;
  auto* c_gpus = app.add_subcommand("gpus", "Every GPU: memory total/used/free/reserved, utilisation");
  c_gpus->add_flag("--json", gpus.json, "One JSON document on stdout");
  c_gpus->callback([&] { run = [&] { return vg::RunGpus(gpus); }; });

  vg::PsOptions ps;
  auto* c_ps = app.add_subcommand("ps", "Every process holding VRAM, ghosts and their holders included");
  c_ps->add_flag("--json", ps.json, "One JSON document on stdout");
  c_ps->add_flag("--all", ps.all, "Also show monitors: device files open, no memory");
  c_ps->callback([&] { run = [&] { return vg::RunPs(ps); }; });

  vg::ReapOptionsCli reap;
  auto* c_reap = app.add_subcommand(
      "reap", "Kill exactly the processes that hold VRAM and verify the memory came back");
  c_reap->add_option("--pid", reap.pids, "These processes (and their descendants)")->expected(1, -1);
  c_reap->add_flag("--ghosts", reap.ghosts, "The live holders of exited processes' memory");
  c_reap->add_flag("--orphans", reap.orphans, "Orphaned processes that hold VRAM");
  c_reap->add_option("--service", reap.service, "A supervised service's processes (needs the daemon)");
  c_reap->add_flag("--dry-run", reap.dry_run, "Show the plan; signal nothing");
  c_reap->add_option("--grace", reap.grace, "Wait this long after SIGTERM before SIGKILL (default 10s)");
  c_reap->add_option("--timeout", reap.timeout,
                     "Wait this long for the driver to give memory back (default 10s)");
  c_reap->add_flag("--yes,-y", reap.yes, "Do not ask for confirmation (required without a terminal)");
  c_reap->add_flag("--json", reap.json, "One JSON document on stdout");
  c_reap->callback([&] { run = [&] { return vg::RunReap(reap); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vramguard: %s; run 'vramguard --help'\n", OneLine(e.what()).c_str());
    return 2;
  }

  // Third-party exceptions stop here, as one line, never a stack trace.
  try {
    vg::Result<int> result = run();
    if (!result) return Report(result.error());
    return *result;
  } catch (const std::exception& e) {
    return Report(vg::Error{vg::ErrorCode::kInternal, std::string("internal error: ") + e.what(),
                            "please report this"});
  }
}
