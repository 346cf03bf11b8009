#include "cli/top_view.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "cli/daemon_client.h"
#include "cli/progress.h"
#include "cli/render.h"

namespace vg {
namespace {

using nlohmann::json;

constexpr const char* kReset = "\033[0m";

enum class Look { kPlain, kTitle, kGhost, kGood, kWarn, kBad, kDim };

struct Line {
  std::string text;
  Look look = Look::kPlain;
  bool selected = false;
};

const char* Sgr(Look look) {
  switch (look) {
    case Look::kTitle:
      return "\033[1m";
    case Look::kGhost:
      return "\033[1;31m";
    case Look::kGood:
      return "\033[32m";
    case Look::kWarn:
      return "\033[33m";
    case Look::kBad:
      return "\033[31m";
    case Look::kDim:
      return "\033[2m";
    case Look::kPlain:
      break;
  }
  return "";
}

// Columns aligned (by code points); the last column takes the rest of the line.
std::vector<std::string> TopTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> out;
  if (rows.empty()) return out;
  std::vector<unsigned> w(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i + 1 < r.size(); ++i) w[i] = std::max(w[i], Columns(r[i]));
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - Columns(r[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.push_back(line);
  }
  return out;
}

std::string ServiceVram(const json& s) {
  if (!s.contains("vram_bytes") || !s["vram_bytes"].is_object() || s["vram_bytes"].empty())
    return "-";
  std::uint64_t total = 0;
  for (auto& [gpu, b] : s["vram_bytes"].items())
    total += b.is_number() ? b.get<std::uint64_t>() : 0;
  return FormatBytes(Bytes(total));
}

std::string ServiceJobs(const json& s) {
  if (!s.contains("jobs") || !s["jobs"].is_object()) return "-";
  const json& c = s["jobs"];
  auto n = [&](const char* k) {
    return c.contains(k) && c[k].is_number_integer() ? c[k].get<long long>() : 0LL;
  };
  return fmt::format("{}/{}", n("queued"), n("starting") + n("running"));
}

// The service each live pid belongs to (the daemon's `members`).
ServiceOwners Owners(const TopData& d) {
  return d.status ? OwnersFromStatus(*d.status) : ServiceOwners{};
}

bool ShownInTop(const VramEntry& e) { return e.role != Role::kMonitor && !e.is_self; }

std::string OwnerOf(const VramEntry& e, const ServiceOwners& owners) {
  std::string service = ServiceOf(e, owners);
  return service.empty() ? "foreign" : service;
}

Look BarLook(Bytes used, Bytes total) {
  if (total.count() == 0) return Look::kPlain;
  const double f = static_cast<double>(used.count()) / static_cast<double>(total.count());
  return f < 0.7 ? Look::kGood : f < 0.9 ? Look::kWarn : Look::kBad;
}

// A queued job's ETA: "~1.1s", "?" when the daemon says it is unknown, "-" when not asked.
std::string JobEta(const json& j) {
  if (j.value("state", "") != "queued" || !j.contains("eta_basis")) return "-";
  if (!j.contains("eta_s") || !j["eta_s"].is_number()) return "?";
  const double s = j["eta_s"].get<double>();
  std::string eta = s < 10 ? fmt::format("~{:.1f}s", s) : "~" + WaitedText(s);
  return j.value("eta_overdue", false) ? eta + "+" : eta;
}

const std::vector<std::string>& HelpLines() {
  static const std::vector<std::string> lines = {
      "keys",
      "  q            quit (Ctrl-C too)",
      "  ↑ ↓  j k     select a service or a process",
      "  r            restart the selected service (through the daemon)",
      "  s            stop the selected service (through the daemon)",
      "  K            reap the selected ghost's holders (asks y/n; same as `vramguard reap`)",
      "  ?            this help (any key goes back)",
      "",
      "ghosts (exited processes whose memory is still held) are marked GHOST",
      "the view refreshes every second; NO_COLOR turns colour off",
  };
  return lines;
}

}  // namespace

std::string MemoryBar(Bytes used, Bytes total, unsigned width) {
  if (width < 3) return "";
  const unsigned cells = width - 2;
  unsigned full = 0;
  if (total.count() > 0) {
    const double f = std::clamp(
        static_cast<double>(used.count()) / static_cast<double>(total.count()), 0.0, 1.0);
    full = static_cast<unsigned>(std::lround(f * cells));
    if (used.count() > 0 && full == 0) full = 1;  // something is used: show it
  }
  std::string bar = "[";
  for (unsigned i = 0; i < cells; ++i) bar += i < full ? "█" : "░";
  return bar + "]";
}

std::vector<TopRow> TopRows(const TopData& d) {
  std::vector<TopRow> rows;
  if (d.status && (*d.status).contains("services")) {
    for (const json& s : (*d.status)["services"]) {
      TopRow r;
      r.kind = TopRow::Kind::kService;
      r.service = s.value("name", "");
      r.key = "service:" + r.service;
      rows.push_back(std::move(r));
    }
  }
  const auto owners = Owners(d);
  for (const GpuView& g : d.view.gpus) {
    for (const VramEntry& e : g.entries) {
      if (!ShownInTop(e)) continue;
      TopRow r;
      r.kind = TopRow::Kind::kProcess;
      r.pid = e.pid;
      r.gpu = g.gpu.index;
      r.key = "pid:" + std::to_string(e.pid) + "@" + std::to_string(g.gpu.index);
      r.ghost = e.role == Role::kGhost;
      r.holders = e.holders;
      r.bytes = e.used_known ? e.used : std::nullopt;
      std::string owner = OwnerOf(e, owners);
      r.service = owner == "foreign" ? "" : owner;
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

std::vector<std::string> RenderTop(const TopData& d, const TopLayout& l) {
  std::vector<Line> head, services, procs, jobs, tail;
  const std::vector<TopRow> rows = TopRows(d);

  // Header.
  std::string title = "vramguard top";
  if (!d.clock.empty()) title += "  " + d.clock;
  if (d.status) {
    const json& dm = (*d.status).contains("daemon") ? (*d.status)["daemon"] : json::object();
    title += fmt::format("  daemon pid {}: {}", dm.value("pid", 0), dm.value("summary", ""));
  } else if (!d.daemon_note.empty()) {
    title += "  " + d.daemon_note;
  }
  head.push_back({title, Look::kTitle});
  for (const GpuView& g : d.view.gpus) {
    const GpuInfo& gi = g.gpu;
    if (gi.problem && gi.total.count() == 0) {
      head.push_back(
          {fmt::format("GPU {} {}: {}", gi.index, gi.name.empty() ? "?" : gi.name, *gi.problem),
           Look::kBad});
      continue;
    }
    const unsigned bar = std::clamp(l.width / 4, 10u, 40u);
    head.push_back({fmt::format("GPU {} {} {} {} / {} used, {} free", gi.index,
                                gi.name.empty() ? "?" : gi.name, MemoryBar(gi.used, gi.total, bar),
                                FormatBytes(gi.used), FormatBytes(gi.total), FormatBytes(gi.free)),
                    BarLook(gi.used, gi.total)});
  }
  if (d.view.gpus.empty()) head.push_back({"no GPUs found", Look::kBad});
  for (const std::string& w : d.view.warnings) head.push_back({"warning: " + w, Look::kWarn});

  auto mark = [&](const std::string& key) { return key == l.selected ? ">" : " "; };
  std::size_t row = 0;  // index into `rows`, in drawing order

  if (d.status && (*d.status).contains("services")) {
    std::vector<std::vector<std::string>> t = {
        {" ", "SERVICE", "STATE", "PID", "VRAM", "JOBS Q/RUN", "DETAIL"}};
    std::vector<std::string> keys = {""};
    for (const json& s : (*d.status)["services"]) {
      const TopRow& r = rows[row++];
      std::string detail = s.value("detail", "");
      if (s.contains("waiting") && s["waiting"].is_object())
        detail = ServiceWaitText(s, s["waiting"].value("waited_s", 0.0));
      t.push_back(
          {mark(r.key), s.value("name", ""), s.value("state", ""),
           s.contains("pid") && s["pid"].is_number() ? std::to_string(s["pid"].get<int>()) : "-",
           ServiceVram(s), ServiceJobs(s), detail});
      keys.push_back(r.key);
    }
    std::vector<std::string> lines = TopTable(t);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      Look look = i == 0 ? Look::kTitle : Look::kPlain;
      if (i > 0) {
        const std::string& state = (*d.status)["services"][i - 1].value("state", "");
        if (state == "failed") look = Look::kBad;
        if (state == "stopped") look = Look::kDim;
      }
      services.push_back({lines[i], look, i > 0 && keys[i] == l.selected});
    }
  }

  {
    std::vector<std::vector<std::string>> t = {
        {" ", "PID", "GPU", "KIND", "OWNER", "MEMORY", "COMMAND"}};
    std::vector<const TopRow*> drawn = {nullptr};
    const auto owners = Owners(d);
    for (const GpuView& g : d.view.gpus) {
      for (const VramEntry& e : g.entries) {
        if (!ShownInTop(e)) continue;
        const TopRow& r = rows[row++];
        std::string cmd;
        if (e.role == Role::kGhost) {
          cmd = "(exited)";
          if (e.holders.empty()) {
            cmd += " no live process maps the device";
          } else {
            cmd += " held by";
            for (pid_t h : e.holders) cmd += " " + std::to_string(h) + " " + CommandOf(d.view, h);
          }
        } else {
          cmd = CommandOf(d.view, e.pid);
          if (e.role == Role::kHolder && e.holds_for)
            cmd += "  [holds " + std::to_string(*e.holds_for) + "'s memory]";
        }
        std::string kind = e.role == Role::kGhost ? "GHOST" : RoleName(e.role);
        t.push_back({mark(r.key), std::to_string(e.pid), std::to_string(g.gpu.index), kind,
                     OwnerOf(e, owners), e.used_known && e.used ? FormatBytes(*e.used) : "-", cmd});
        drawn.push_back(&r);
      }
    }
    if (t.size() > 1) {
      std::vector<std::string> lines = TopTable(t);
      for (std::size_t i = 0; i < lines.size(); ++i) {
        Look look = i == 0 ? Look::kTitle : drawn[i]->ghost ? Look::kGhost : Look::kPlain;
        procs.push_back({lines[i], look, i > 0 && drawn[i]->key == l.selected});
      }
    } else {
      procs.push_back({"no process holds VRAM", Look::kDim});
    }
  }

  if (d.jobs.is_array() && !d.jobs.empty()) {
    std::vector<std::vector<std::string>> t = {
        {" ", "JOB", "SERVICE", "STATE", "POS", "ETA", "GPU", "VRAM", "ESTIMATE", "PARAMS"}};
    for (const json& j : d.jobs) {
      std::string params;
      if (j.contains("params") && j["params"].is_object()) {
        for (auto& [k, v] : j["params"].items())
          params += (params.empty() ? "" : " ") + k + "=" +
                    (v.is_string() ? v.get<std::string>() : v.dump());
      }
      auto bytes = [&](const char* k) {
        return j.contains(k) && j[k].is_number() ? FormatBytes(Bytes(j[k].get<std::uint64_t>()))
                                                 : std::string("-");
      };
      t.push_back(
          {" ", std::to_string(j.value("id", 0LL)), j.value("service", ""), j.value("state", ""),
           j.contains("position") && j["position"].is_number()
               ? std::to_string(j["position"].get<long long>())
               : "-",
           JobEta(j),
           j.contains("gpu") && j["gpu"].is_number() ? std::to_string(j["gpu"].get<int>()) : "-",
           bytes("vram_bytes"), bytes("estimate_bytes"), params});
    }
    std::vector<std::string> lines = TopTable(t);
    for (std::size_t i = 0; i < lines.size(); ++i)
      jobs.push_back({lines[i], i == 0 ? Look::kTitle : Look::kPlain});
  }

  tail.push_back({"q quit  ↑↓/jk select  r restart  s stop  K reap ghost  ? help", Look::kDim});
  tail.push_back({l.message, Look::kPlain});

  std::vector<Line> frame = head;
  if (l.help) {
    for (const std::string& h : HelpLines()) frame.push_back({h, Look::kPlain});
  } else {
    // Cut the lists (jobs first, then processes, then services) to the height, keeping each
    // list's header and saying how many rows are hidden.
    std::vector<std::vector<Line>*> lists = {&services, &procs, &jobs};
    if (l.height > 0) {
      auto total = [&] {
        std::size_t n = head.size() + tail.size();
        for (auto* x : lists) n += x->size();
        return n;
      };
      for (auto it = lists.rbegin(); it != lists.rend() && total() > l.height; ++it) {
        std::vector<Line>& list = **it;
        if (list.size() <= 1) continue;
        const std::size_t over = total() - l.height;
        const std::size_t body = list.size() - 1;
        // Keep the header; what is hidden is said on one line of its own.
        const std::size_t keep = body > over + 1 ? body - over - 1 : 0;
        const std::size_t hidden = body - keep;
        list.resize(1 + keep);
        list.push_back({fmt::format("  … {} more", hidden), Look::kDim});
      }
    }
    for (auto* x : lists) frame.insert(frame.end(), x->begin(), x->end());
  }
  frame.insert(frame.end(), tail.begin(), tail.end());

  std::vector<std::string> out;
  for (const Line& line : frame) {
    std::string text = FitColumns(line.text, l.width);
    if (l.color) {
      std::string sgr = Sgr(line.look);
      if (line.selected) sgr += "\033[7m";
      if (!sgr.empty()) {
        text.insert(0, sgr);
        text += kReset;
      }
    }
    out.push_back(std::move(text));
  }
  if (l.height > 0 && out.size() > l.height) out.resize(l.height);
  return out;
}

json TopJson(const TopData& d) {
  json j = PsJson(d.view, false);
  j["daemon"] = d.status ? (*d.status)["daemon"] : json(nullptr);
  j["services"] =
      d.status && (*d.status).contains("services") ? (*d.status)["services"] : json(nullptr);
  if (!d.status) j["daemon_note"] = d.daemon_note;
  j["jobs"] = d.jobs;
  return j;
}

}  // namespace vg
