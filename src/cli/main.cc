// vramguard: who holds VRAM, and getting it back.
//
// main is a list of steps: build the subcommand table, parse, run the chosen command, turn its
// Result into output and an exit status. Nothing below main prints an error or exits.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <set>
#include <string>

#include "cli/check_config.h"
#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/daemon_client.h"
#include "cli/explain.h"
#include "cli/fleet_client.h"
#include "cli/init.h"
#include "cli/jobs_client.h"
#include "cli/top.h"
#include "cli/usage_errors.h"
#include "daemon/daemon_main.h"
#include "gpu/nvml_probe.h"

#ifndef VRAMGUARD_COMMIT
#define VRAMGUARD_COMMIT "unknown"
#endif
#ifndef VRAMGUARD_BUILD_TYPE
#define VRAMGUARD_BUILD_TYPE "unknown"
#endif

namespace {

// One line on stderr: what went wrong and what to do about it.
int Report(const vg::Error& e) {
  std::string line = "vramguard: " + e.message;
  if (!e.hint.empty()) line += "; " + e.hint;
  std::fprintf(stderr, "%s\n", line.c_str());
  return vg::ExitStatusFor(e.code);
}

// The command table as cli/usage_errors.h describes it: names, and each command's options.
vg::UsageShape ShapeOf(CLI::App& app) {
  vg::UsageShape shape;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    shape.commands.push_back(sub->get_name());
    auto& opts = shape.options[sub->get_name()];
    for (const CLI::Option* o : sub->get_options()) {
      for (const std::string& n : o->get_lnames()) opts["--" + n] = o->get_type_name();
      for (const std::string& n : o->get_snames()) opts["-" + n] = o->get_type_name();
    }
  }
  return shape;
}

// The command table as cli/completion.h describes it: every command, its options and their help.
std::vector<vg::CompletionCommand> CompletionSpecOf(CLI::App& app) {
  std::vector<vg::CompletionCommand> out;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    vg::CompletionCommand c{.name = sub->get_name(), .help = sub->get_description()};
    for (const CLI::Option* o : sub->get_options()) {
      if (!o->nonpositional()) {
        if (o->get_name() == "file") c.takes_file = true;
        if (sub->get_name() == "completion") c.arg_choices = vg::CompletionShells();
        continue;
      }
      if (o->get_lnames() == std::vector<std::string>{"help"}) continue;
      vg::CompletionOption opt{.help = o->get_description(),
                               .takes_value = !o->get_type_name().empty()};
      if (sub->get_name() == "init" && o->check_lname("template")) {
        opt.choices = vg::InitTemplates();
      }
      for (const std::string& n : o->get_lnames()) opt.names.push_back("--" + n);
      for (const std::string& n : o->get_snames()) opt.names.push_back("-" + n);
      c.options.push_back(std::move(opt));
    }
    out.push_back(std::move(c));
  }
  return out;
}

// One example per command, under its --help.
const std::pair<const char*, const char*> kExamples[] = {
    {"gpus", "vramguard gpus --json"},
    {"ps", "vramguard ps            # who holds VRAM, ghosts included"},
    {"reap", "vramguard reap --ghosts --dry-run"},
    {"top", "vramguard top          # q quits; --once for one frame"},
    {"up", "vramguard up --config /etc/vramguard/vramguard.toml"},
    {"check-config", "vramguard check-config vramguard.toml"},
    {"fleet", "vramguard fleet --json"},
    {"explain", "vramguard explain service.log"},
    {"status", "vramguard status i2v --json"},
    {"start", "vramguard start i2v"},
    {"stop", "vramguard stop i2v"},
    {"restart", "vramguard restart i2v"},
    {"logs", "vramguard logs i2v -f"},
    {"events", "vramguard events --service i2v --kind oom -n 20"},
    {"reload", "vramguard reload"},
    {"submit", "vramguard submit i2v resolution=768 frames=24 --wait"},
    {"jobs", "vramguard jobs --state queued,running"},
    {"job", "vramguard job 42"},
    {"cancel", "vramguard cancel 42"},
    {"completion", "source <(vramguard completion bash)"},
    {"init", "vramguard init --template comfyui -o ~/.config/vramguard/vramguard.toml"},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vramguard: see exactly who holds GPU memory, and get it back"};
  app.set_version_flag("--version", std::string("vramguard ") + VRAMGUARD_VERSION + " (commit " +
                                        VRAMGUARD_COMMIT + ", " + VRAMGUARD_BUILD_TYPE +
                                        " build)\nNVML library: " + vg::DefaultNvmlLibrary() +
                                        " (VRAMGUARD_NVML_LIBRARY overrides)");
  app.require_subcommand(1);
  std::function<vg::Result<int>()> run;

  // The subcommand table (docs/cli.md). Each entry: its flags, and what runs.
  vg::GpusOptions gpus;
  auto* c_gpus =
      app.add_subcommand("gpus", "Every GPU: memory total/used/free/reserved, utilisation");
  c_gpus->add_flag("--json", gpus.json, "One JSON document on stdout");
  c_gpus->callback([&] { run = [&] { return vg::RunGpus(gpus); }; });

  vg::PsOptions ps;
  auto* c_ps =
      app.add_subcommand("ps", "Every process holding VRAM, ghosts and their holders included");
  c_ps->add_flag("--json", ps.json, "One JSON document on stdout");
  c_ps->add_flag("--all", ps.all, "Also show monitors: device files open, no memory");
  c_ps->callback([&] { run = [&] { return vg::RunPs(ps); }; });

  vg::ReapOptionsCli reap;
  auto* c_reap = app.add_subcommand(
      "reap", "Kill exactly the processes that hold VRAM and verify the memory came back");
  c_reap->add_option("--pid", reap.pids, "These processes (and their descendants)")
      ->expected(1, -1);
  c_reap->add_flag("--ghosts", reap.ghosts, "The live holders of exited processes' memory");
  c_reap->add_flag("--orphans", reap.orphans, "Orphaned processes that hold VRAM");
  c_reap->add_option("--service", reap.service,
                     "A supervised service's processes (needs the daemon)");
  c_reap->add_flag("--dry-run", reap.dry_run, "Show the plan; signal nothing");
  c_reap->add_option("--grace", reap.grace,
                     "Wait this long after SIGTERM before SIGKILL (default 10s)");
  c_reap->add_option("--timeout", reap.timeout,
                     "Wait this long for the driver to give memory back (default 10s)");
  c_reap->add_flag("--yes,-y", reap.yes,
                   "Do not ask for confirmation (required without a terminal)");
  c_reap->add_flag("--json", reap.json, "One JSON document on stdout");
  c_reap->callback([&] { run = [&] { return vg::RunReap(reap); }; });

  vg::TopOptions top;
  auto* c_top = app.add_subcommand(
      "top", "Live view: GPUs, services, who holds VRAM (ghosts marked), jobs; keys act");
  c_top->add_flag("--once", top.once, "Print one frame and exit (no terminal needed)");
  c_top->add_flag("--json", top.json, "With --once: one JSON document on stdout");
  c_top->callback([&] { run = [&] { return vg::RunTop(top); }; });

  vg::UpOptions up;
  auto* c_up = app.add_subcommand("up", "Run the supervisor daemon in the foreground");
  c_up->add_option("--config,-c", up.config,
                   "Config file (default: $VRAMGUARD_CONFIG or the per-user path)");
  c_up->add_flag("--keep-services", up.keep_services,
                 "On exit, leave services running (daemon upgrade)");
  c_up->callback([&] { run = [&] { return vg::RunUp(up); }; });

  std::string check_file;
  bool check_json = false;
  auto* c_check =
      app.add_subcommand("check-config", "Validate a config file; errors as file:line:col");
  c_check->add_option("file", check_file, "The config file")->required();
  c_check->add_flag("--json", check_json, "One JSON document on stdout");
  c_check->callback([&] { run = [&] { return vg::RunCheckConfig(check_file, check_json); }; });

  vg::InitOptions init;
  auto* c_init = app.add_subcommand(
      "init", "Write a commented starter config for this machine (GPUs found, a service)");
  c_init->add_option("-o,--output", init.output, "Write to this file (default: stdout)");
  c_init->add_flag("--force", init.force, "Replace the file if it exists");
  c_init->add_option("--template", init.template_name,
                     "A service for: comfyui, gradio (A1111/Forge WebUI), llama-server, vllm");
  c_init->callback([&] { run = [&] { return vg::RunInit(init); }; });

  vg::ExplainOptions explain;
  auto* c_explain =
      app.add_subcommand("explain", "Find OOMs and other GPU incidents in a log file");
  c_explain->add_option("file", explain.file, "The log file (default: stdin; - for stdin)");
  c_explain->add_option("--service", explain.service, "Name the service in the sentences");
  c_explain->add_option("--config", explain.config,
                        "Apply this config's user patterns too ([[pattern]], and --service's own)");
  c_explain->add_flag("--json", explain.json, "One JSON document on stdout");
  c_explain->callback([&] { run = [&] { return vg::RunExplain(explain); }; });

  vg::ClientOptions client;
  std::string service;
  auto* c_status = app.add_subcommand("status", "Services of the running daemon, or one in detail");
  c_status->add_option("service", service, "One service");
  c_status->add_flag("--json", client.json, "One JSON document on stdout");
  c_status->callback([&] { run = [&] { return vg::RunStatus(service, client); }; });

  bool no_wait = false;
  std::string op_timeout = "15m";
  for (const char* op : {"start", "stop", "restart"}) {
    auto* c = app.add_subcommand(
        op, std::string(op) == "start"  ? "Start a service (sweep, port, VRAM, spawn, ready)"
            : std::string(op) == "stop" ? "Stop a service and verify its VRAM came back"
                                        : "Stop then start a service (never exec)");
    c->add_option("service", service, "The service")->required();
    c->add_flag("--json", client.json, "One JSON document on stdout");
    c->add_flag("--no-wait", no_wait, "Return once the daemon accepted the request");
    c->add_option("--timeout", op_timeout, "Give up waiting after this long (default 15m)");
    std::string name = op;
    c->callback([&, name] {
      run = [&, name] { return vg::RunServiceOp(name, service, !no_wait, op_timeout, client); };
    });
  }

  bool follow = false;
  int lines = 100;
  auto* c_logs = app.add_subcommand("logs", "A service's output");
  c_logs->add_option("service", service, "The service")->required();
  c_logs->add_flag("-f,--follow", follow, "Keep printing new lines");
  c_logs->add_option("-n,--lines", lines, "How many recent lines (default 100)");
  c_logs->add_flag("--json", client.json, "JSON output");
  c_logs->callback([&] { run = [&] { return vg::RunLogs(service, follow, lines, client); }; });

  std::string kind;
  int limit = 100;
  auto* c_events = app.add_subcommand("events", "What the daemon did and why");
  c_events->add_flag("-f,--follow", follow, "Keep printing new events");
  c_events->add_option("--service", service, "Only this service");
  c_events->add_option("--kind", kind, "Only this kind (crashed, stopped, waiting-for-vram, …)");
  c_events->add_option("-n,--limit", limit, "How many recent events (default 100)");
  c_events->add_flag("--json", client.json, "JSON output");
  c_events->callback(
      [&] { run = [&] { return vg::RunEvents(follow, service, kind, limit, client); }; });

  auto* c_reload = app.add_subcommand("reload", "Re-read the daemon's config file (like SIGHUP)");
  c_reload->add_flag("--json", client.json, "One JSON document on stdout");
  c_reload->callback([&] { run = [&] { return vg::RunReload(client); }; });

  vg::AddJobCommands(app, run);  // submit, jobs, job, cancel (cli/jobs_client.cc)

  // Every command that talks to the daemon: which one (cli/socket_discovery.h).
  vg::DaemonAddress address;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    static const std::set<std::string> kClients = {"status", "start",  "stop",   "restart", "logs",
                                                   "events", "reload", "submit", "jobs",    "job",
                                                   "cancel", "top",    "reap"};
    if (!kClients.contains(sub->get_name())) continue;
    sub->add_option("--socket", address.socket,
                    "The daemon's control socket (default: found, see `man vramguard`)");
    sub->add_option("--config", address.config,
                    "Talk to the daemon started with this config file (its [daemon] socket)");
  }

  std::string shell;
  auto* c_completion = app.add_subcommand(
      "completion", "Print the shell completion script for bash, zsh or fish (from this table)");
  c_completion->add_option("shell", shell, "bash, zsh or fish")->required();
  c_completion->callback([&] {
    run = [&]() -> vg::Result<int> {
      auto script = vg::CompletionScript(shell, CompletionSpecOf(app));
      if (!script) return std::unexpected(script.error());
      std::fputs(script->c_str(), stdout);
      return 0;
    };
  });
  vg::FleetOptions fleet;
  auto* c_fleet = app.add_subcommand(
      "fleet", "The fleet on Redis: hosts, queues, pending entries, dead letters (docs/fleet.md)");
  c_fleet->add_option("--config,-c", fleet.config,
                      "Config file with [fleet] (default: $VRAMGUARD_CONFIG or the per-user path)");
  c_fleet->add_option("--job", fleet.job, "One fleet job: where it is and how it ended");
  c_fleet->add_flag("--json", fleet.json, "One JSON document on stdout");
  c_fleet->callback([&] { run = [&] { return vg::RunFleet(fleet); }; });

  for (const auto& [name, example] : kExamples) {
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name() == name) sub->footer(std::string("Example:\n  ") + example);
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    std::fprintf(stderr, "vramguard: %s\n",
                 vg::UsageErrorLine(ShapeOf(app), e.get_name(), e.what(), args).c_str());
    return 2;
  }

  vg::SetDaemonAddress(address);
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
