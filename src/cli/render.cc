#include "cli/render.h"

#include <fmt/format.h>
#include <algorithm>
#include <ctime>

namespace vg {
namespace {

using nlohmann::json;

// Aligns columns; the last column takes what is left of `width` (0: no limit).
std::string Table(const std::vector<std::vector<std::string>>& rows, unsigned width,
                  const std::string& indent = "") {
  if (rows.empty()) return "";
  std::vector<std::size_t> w(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i + 1 < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (i + 1 < r.size()) {
        line += r[i] + std::string(w[i] - r[i].size() + 2, ' ');
      } else {
        line += r[i];
      }
    }
    if (width > 0 && line.size() > width) line = line.substr(0, width - 1) + "…";
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

json OptBytes(const std::optional<Bytes>& b) { return b ? json(b->count()) : json(nullptr); }

std::string Mem(const std::optional<Bytes>& b) { return b ? FormatBytes(*b) : "?"; }

std::string Pid(pid_t p) { return std::to_string(p); }

// "547 python3 worker.py (orphan, child of 526)"
std::string HolderPhrase(const VramView& v, const GpuView& g, pid_t holder) {
  std::string s = Pid(holder) + " " + CommandOf(v, holder);
  for (const VramEntry& e : g.entries) {
    if (e.pid != holder) continue;
    std::vector<std::string> tags;
    if (e.orphan) tags.push_back("orphan");
    if (e.attributed_by_session && e.holds_for) tags.push_back("child of " + Pid(*e.holds_for));
    if (!tags.empty()) {
      s += " (";
      for (std::size_t i = 0; i < tags.size(); ++i) s += (i ? ", " : "") + tags[i];
      s += ")";
    }
  }
  return s;
}

bool Shown(const VramEntry& e, bool all) { return all || (e.role != Role::kMonitor); }

}  // namespace

std::string CommandOf(const VramView& v, pid_t pid) {
  const ProcessInfo* p = v.Find(pid);
  return p ? p->CommandLine() : "-";
}

std::string RenderGpus(const GpuSnapshot& s) {
  std::vector<std::vector<std::string>> rows = {
      {"GPU", "NAME", "USED", "FREE", "TOTAL", "RESERVED", "UTIL", "PROCS", "UUID"}};
  for (const GpuInfo& g : s.gpus) {
    if (g.problem && g.total.count() == 0) {
      rows.push_back({std::to_string(g.index), g.name.empty() ? "?" : g.name, "?", "?", "?", "?",
                      "?", "?", *g.problem});
      continue;
    }
    rows.push_back({std::to_string(g.index), g.name, FormatBytes(g.used), FormatBytes(g.free),
                    FormatBytes(g.total), g.reserved ? FormatBytes(*g.reserved) : "-",
                    g.utilization_percent ? std::to_string(*g.utilization_percent) + "%" : "-",
                    std::to_string(g.processes.size()), g.uuid});
  }
  std::string out = Table(rows, 0);
  if (s.gpus.empty()) out += "no GPUs: the driver is loaded but reports none\n";
  if (!s.driver_version.empty()) out += "driver " + s.driver_version + "\n";
  return out;
}

json GpusJson(const GpuSnapshot& s, const std::string& library) {
  json gpus = json::array();
  for (const GpuInfo& g : s.gpus) {
    json j = {{"index", g.index},
              {"name", g.name},
              {"uuid", g.uuid},
              {"minor", g.minor ? json(*g.minor) : json(nullptr)},
              {"pci_bus_id", g.pci_bus_id ? json(*g.pci_bus_id) : json(nullptr)},
              {"total_bytes", g.total.count()},
              {"used_bytes", g.used.count()},
              {"free_bytes", g.free.count()},
              {"reserved_bytes", OptBytes(g.reserved)},
              {"utilization_percent",
               g.utilization_percent ? json(*g.utilization_percent) : json(nullptr)},
              {"process_count", g.processes.size()}};
    if (g.problem) j["problem"] = *g.problem;
    gpus.push_back(std::move(j));
  }
  return {{"driver_version", s.driver_version}, {"library", library}, {"gpus", gpus}};
}

ServiceOwners OwnersFromStatus(const json& status) {
  ServiceOwners out;
  if (!status.is_object() || !status.contains("services") || !status["services"].is_array())
    return out;
  for (const json& s : status["services"]) {
    if (!s.is_object() || !s.contains("members") || !s["members"].is_array()) continue;
    for (const json& p : s["members"]) {
      if (p.is_number_integer()) out[p.get<pid_t>()] = s.value("name", "");
    }
  }
  return out;
}

std::string ServiceOf(const VramEntry& e, const ServiceOwners& owners) {
  if (auto it = owners.find(e.pid); it != owners.end()) return it->second;
  for (pid_t h : e.holders) {
    if (auto it = owners.find(h); it != owners.end()) return it->second;
  }
  if (e.holds_for) {
    if (auto it = owners.find(*e.holds_for); it != owners.end()) return it->second;
  }
  return "";
}

std::string RenderPs(const VramView& v, bool all, unsigned width, const ServiceOwners& owners) {
  std::string out;
  Bytes ghost_bytes;
  int ghosts = 0, hidden_monitors = 0;
  for (const GpuView& g : v.gpus) {
    const GpuInfo& gi = g.gpu;
    out += fmt::format("GPU {}  {}  {} used of {}, {} free\n", gi.index,
                       gi.name.empty() ? "?" : gi.name, FormatBytes(gi.used), FormatBytes(gi.total),
                       FormatBytes(gi.free));
    std::vector<std::vector<std::string>> rows = {
        {"PID", "STATE", "USER", "MEMORY", "PPID", "COMMAND"}};
    // A daemon answered: which of its services each process belongs to, before the command.
    if (!owners.empty()) rows[0].insert(rows[0].end() - 1, "SERVICE");
    for (const VramEntry& e : g.entries) {
      if (!Shown(e, all)) {
        if (!e.is_self) ++hidden_monitors;
        continue;
      }
      const ProcessInfo* p = v.Find(e.pid);
      std::string user = p ? p->user : "-";
      std::string ppid = p ? Pid(p->ppid) : "-";
      std::string mem = e.used_known ? Mem(e.used) : "-";
      std::string cmd;
      switch (e.role) {
        case Role::kGhost: {
          ++ghosts;
          ghost_bytes += e.used.value_or(Bytes());
          if (e.holders.empty()) {
            cmd = "(exited) — no live process maps the device";
          } else {
            cmd = "(exited) — held by ";
            for (std::size_t i = 0; i < e.holders.size(); ++i) {
              cmd += (i ? "; " : "") + HolderPhrase(v, g, e.holders[i]);
            }
          }
          break;
        }
        case Role::kHolder:
          cmd = CommandOf(v, e.pid) + (e.holds_for ? "  [holds " + Pid(*e.holds_for) + "'s memory]"
                                                   : "  [unlisted context]");
          break;
        case Role::kPossible:
          cmd = CommandOf(v, e.pid) + "  [device open, not mapped: may hold " +
                (e.holds_for ? Pid(*e.holds_for) + "'s" : std::string("a ghost's")) + " memory]";
          break;
        case Role::kMonitor:
          cmd = CommandOf(v, e.pid) + (e.is_self ? "  [this vramguard]" : "  [no context]");
          break;
        default:
          cmd = CommandOf(v, e.pid);
      }
      rows.push_back({Pid(e.pid), RoleName(e.role), user, mem, ppid, cmd});
      if (!owners.empty()) {
        const std::string service = ServiceOf(e, owners);
        rows.back().insert(rows.back().end() - 1, service.empty() ? "-" : service);
      }
    }
    if (rows.size() == 1) {
      out += "  no processes hold memory on this GPU\n";
    } else {
      out += Table(rows, width, "  ");
    }
  }
  if (v.gpus.empty()) out += "no GPUs found\n";
  if (ghosts > 0) {
    out += fmt::format(
        "\n{} exited process{} still hold{} {}: reclaim with `vramguard reap --ghosts`\n", ghosts,
        ghosts == 1 ? "" : "es", ghosts == 1 ? "s" : "", FormatBytes(ghost_bytes));
  }
  if (hidden_monitors > 0 && !all) {
    out += fmt::format("({} monitor{} without VRAM hidden; --all shows them)\n", hidden_monitors,
                       hidden_monitors == 1 ? "" : "s");
  }
  for (const std::string& w : v.warnings) out += "warning: " + w + "\n";
  return out;
}

json PsJson(const VramView& v, bool all, const ServiceOwners& owners) {
  json gpus = json::array();
  for (const GpuView& g : v.gpus) {
    json procs = json::array();
    for (const VramEntry& e : g.entries) {
      if (!Shown(e, all)) continue;
      const ProcessInfo* p = v.Find(e.pid);
      json j = {{"pid", e.pid},
                {"state", RoleName(e.role)},
                {"used_bytes", e.used_known ? OptBytes(e.used) : json(nullptr)},
                {"orphan", e.orphan},
                {"user", p ? json(p->user) : json(nullptr)},
                {"uid", p ? json(p->uid) : json(nullptr)},
                {"ppid", p ? json(p->ppid) : json(nullptr)},
                {"command", p ? json(p->CommandLine()) : json(nullptr)},
                {"holds_for", e.holds_for ? json(*e.holds_for) : json(nullptr)}};
      if (e.role == Role::kGhost) j["holders"] = e.holders;
      if (e.is_self) j["self"] = true;
      // The supervised service it belongs to; null when none is or no daemon answered.
      const std::string service = ServiceOf(e, owners);
      j["service"] = service.empty() ? json(nullptr) : json(service);
      procs.push_back(std::move(j));
    }
    json gj = {{"index", g.gpu.index},
               {"name", g.gpu.name},
               {"uuid", g.gpu.uuid},
               {"minor", g.minor},
               {"total_bytes", g.gpu.total.count()},
               {"used_bytes", g.gpu.used.count()},
               {"free_bytes", g.gpu.free.count()},
               {"processes", procs}};
    if (g.gpu.problem) gj["problem"] = *g.gpu.problem;
    gpus.push_back(std::move(gj));
  }
  return {{"gpus", gpus},
          {"unreadable_processes", v.unreadable},
          {"nested_pid_namespace", v.nested_pid_namespace},
          {"warnings", v.warnings}};
}

std::string RenderReapPlan(const ReapPlan& plan, const std::string& what) {
  std::string out;
  if (plan.targets.empty()) {
    out += "reap " + what + ": nothing to do\n";
  } else {
    out += fmt::format("reap {}: {} process{}, expecting {} back\n", what, plan.targets.size(),
                       plan.targets.size() == 1 ? "" : "es", FormatBytes(plan.ExpectedBytes()));
    std::vector<std::vector<std::string>> rows = {{"PID", "USER", "WHY", "COMMAND"}};
    for (const ReapTarget& t : plan.targets)
      rows.push_back({Pid(t.pid), t.user, t.reason, t.command});
    out += Table(rows, 0, "  ");
  }
  for (const std::string& n : plan.notes) out += "note: " + n + "\n";
  return out;
}

std::string RenderReapOutcome(const ReapOutcome& o) {
  std::string out;
  auto list = [](const std::vector<pid_t>& pids) {
    std::string s;
    for (pid_t p : pids) s += (s.empty() ? "" : " ") + Pid(p);
    return s;
  };
  if (!o.terminated.empty()) out += "SIGTERM: " + list(o.terminated) + " exited\n";
  if (!o.killed.empty()) out += "SIGKILL: " + list(o.killed) + " exited (ignored SIGTERM)\n";
  if (!o.gone.empty()) out += "already gone: " + list(o.gone) + "\n";
  if (!o.survivors.empty()) out += "STILL ALIVE after SIGKILL: " + list(o.survivors) + "\n";
  for (const std::string& p : o.problems) out += "problem: " + p + "\n";
  out += "all targets exited in " + FormatSeconds(o.exit_time) + "\n";
  for (const GpuRelease& g : o.gpus) {
    if (g.verified) {
      out += fmt::format("GPU {}: {} back, verified by the driver {} after exit", g.gpu,
                         FormatBytes(g.freed), FormatSeconds(g.back_after));
    } else {
      out += fmt::format("GPU {}: memory NOT back after {}: {} still listed", g.gpu,
                         FormatSeconds(g.back_after), list(g.still_listed));
    }
    if (g.free_before && g.free_after) {
      out +=
          fmt::format(" (free {} → {})", FormatBytes(*g.free_before), FormatBytes(*g.free_after));
    }
    out += "\n";
  }
  return out;
}

json ReapJson(const std::string& mode, bool dry_run, const ReapPlan& plan, const ReapOutcome* o) {
  json targets = json::array();
  for (const ReapTarget& t : plan.targets) {
    targets.push_back({{"pid", t.pid},
                       {"user", t.user},
                       {"uid", t.uid},
                       {"command", t.command},
                       {"reason", t.reason}});
  }
  json releases = json::array();
  for (const ExpectedRelease& r : plan.releases) {
    releases.push_back(
        {{"gpu", r.gpu}, {"listed_pid", r.listed_pid}, {"bytes", OptBytes(r.bytes)}});
  }
  json j = {{"mode", mode},
            {"dry_run", dry_run},
            {"targets", targets},
            {"expected_releases", releases},
            {"expected_bytes", plan.ExpectedBytes().count()},
            {"notes", plan.notes}};
  if (o) {
    json gpus = json::array();
    for (const GpuRelease& g : o->gpus) {
      gpus.push_back({{"index", g.gpu},
                      {"expected_bytes", g.expected.count()},
                      {"freed_bytes", g.freed.count()},
                      {"verified", g.verified},
                      {"back_s", ToSeconds(g.back_after)},
                      {"free_before_bytes", OptBytes(g.free_before)},
                      {"free_after_bytes", OptBytes(g.free_after)},
                      {"still_listed", g.still_listed}});
    }
    j["result"] = {{"terminated", o->terminated},
                   {"killed", o->killed},
                   {"gone", o->gone},
                   {"survivors", o->survivors},
                   {"problems", o->problems},
                   {"exit_s", ToSeconds(o->exit_time)},
                   {"gpus", gpus},
                   {"freed_bytes", o->Freed().count()},
                   {"verified", o->verified}};
  }
  return j;
}

std::string LocalTime(std::int64_t unix_ms, bool clock_only) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (localtime_r(&t, &tm) == nullptr) return std::to_string(unix_ms);
  char buf[32];
  std::strftime(buf, sizeof buf, clock_only ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace vg
