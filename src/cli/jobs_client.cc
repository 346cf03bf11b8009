// `vramguard submit | jobs | job | cancel`: thin clients of the daemon's /v1/jobs API.
#include "cli/jobs_client.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "api/client.h"
#include "api/http.h"
#include "cli/daemon_client.h"
#include "cli/progress.h"
#include "fleet/fleet_policy.h"
#include "store/job_store.h"
#include "util/units.h"

namespace vg {
namespace {

using nlohmann::json;

struct SubmitOptions {
  std::string service;
  std::vector<std::string> params;
  std::string payload_file;
  int priority = 0;
  std::string key;
  bool wait = false;
  bool json = false;
};

struct ListOptions {
  std::string state;
  std::string service;
  int limit = 50;
  bool fleet = false;
  bool json = false;
};

std::string Bytes_(const json& v) {
  return v.is_number() ? FormatBytes(Bytes(v.get<std::uint64_t>())) : "-";
}

std::string Params(const json& p) {
  std::string out;
  if (!p.is_object()) return out;
  for (auto& [k, v] : p.items())
    out += (out.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

std::string Seconds(const json& from, const json& to) {
  if (!from.is_number() || !to.is_number()) return "-";
  return fmt::format("{:.1f}s", (to.get<double>() - from.get<double>()) / 1000.0);
}

// "eta ~1.1s (median of the last 3 i2v jobs: 1.0s)", "eta unknown (no i2v job has finished …)".
std::string EtaText(const json& j) {
  std::string basis = j.value("eta_basis", "");
  if (basis.starts_with("unknown: ")) basis = basis.substr(9);
  if (!j.contains("eta_s") || !j["eta_s"].is_number())
    return "eta unknown" + (basis.empty() ? "" : " (" + basis + ")");
  const double s = j["eta_s"].get<double>();
  std::string eta = s < 10 ? fmt::format("eta ~{:.1f}s", s) : "eta ~" + WaitedText(s);
  if (j.value("eta_overdue", false)) eta += " or later (a running job is past the usual time)";
  return eta + (basis.empty() ? "" : " (" + basis + ")");
}

}  // namespace

std::string JobWaitText(const json& j, double waited_s) {
  const std::string head = "job " + std::to_string(j.value("id", 0LL)) + " ";
  const std::string state = j.value("state", "");
  if (state == "queued") {
    std::string line = head + "queued";
    if (j.contains("position") && j["position"].is_number())
      line += ", position " + std::to_string(j["position"].get<long long>());
    line += ", " + EtaText(j);
    if (j.contains("waiting_for") && j["waiting_for"].is_string())
      line += "; " + j["waiting_for"].get<std::string>();
    return line + " (waited " + WaitedText(waited_s) + ")";
  }
  if (state == "running") {
    std::string line = head + "running";
    if (j.contains("gpu") && j["gpu"].is_number())
      line += " on GPU " + std::to_string(j["gpu"].get<int>());
    if (j.contains("started_unix_ms") && j["started_unix_ms"].is_number()) {
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      line += " for " + WaitedText((now_ms - j["started_unix_ms"].get<double>()) / 1000.0);
    }
    if (j.contains("vram_bytes") && j["vram_bytes"].is_number())
      line += ", VRAM " + Bytes_(j["vram_bytes"]) + " now";
    if (j.contains("sampled_peak_bytes") && j["sampled_peak_bytes"].is_number())
      line += " (peak " + Bytes_(j["sampled_peak_bytes"]) + ")";
    return line + ", estimate " + Bytes_(j["estimate_bytes"]);
  }
  return head + state + " (" + WaitedText(waited_s) + ")";
}

namespace {

void PrintJob(const json& j) {
  std::printf("job %lld  %s  %s\n", j.value("id", 0LL), j.value("service", "").c_str(),
              j.value("state", "").c_str());
  std::printf("  params:    %s\n", Params(j["params"]).c_str());
  std::printf("  estimate:  %s\n", Bytes_(j["estimate_bytes"]).c_str());
  if (j["observed_peak_bytes"].is_number()) {
    // What the job itself took, over what the loaded service held (docs/admission.md): the
    // same number as observed_peak_bytes, said with what kind of bound it is.
    const std::string bytes = Bytes_(j["observed_peak_bytes"]);
    std::string observed = bytes + " over the loaded service";
    if (j["observation"] == "at-most")
      observed = "at most " + observed + " (memory the service had cached hid the job's own rise)";
    if (j["observation"] == "at-least")
      observed = "more than " + observed + " (it ran out of memory)";
    std::printf("  observed:  %s\n", observed.c_str());
  }
  if (j["position"].is_number())
    std::printf("  position:  %lld in its service's queue\n", j["position"].get<long long>());
  if (j.contains("waiting_for") && j["waiting_for"].is_string())
    std::printf("  waiting:   %s; %s\n", j["waiting_for"].get<std::string>().c_str(),
                EtaText(j).c_str());
  if (j["gpu"].is_number()) std::printf("  gpu:       %d\n", j["gpu"].get<int>());
  if (!j.value("reason", "").empty())
    std::printf("  reason:    %s\n", j["reason"].get<std::string>().c_str());
  std::printf("  ran:       %s (submitted → finished %s)\n",
              Seconds(j["started_unix_ms"], j["finished_unix_ms"]).c_str(),
              Seconds(j["submitted_unix_ms"], j["finished_unix_ms"]).c_str());
}

// A fleet job's record (GET /v1/fleet/jobs/ID): where it is or ran, and how it ended.
void PrintFleetJob(const json& j) {
  std::printf("fleet job %s  %s  %s\n", j.value("fleet_job", "").c_str(),
              j.value("service", "").c_str(), j.value("state", "").c_str());
  if (j.contains("host") && j["host"].is_string()) {
    const json local_id = j.value("local_id", json());
    std::string local = local_id.is_number() ? " (local job " + local_id.dump() + ")" : "";
    std::printf("  host:      %s%s\n", j["host"].get<std::string>().c_str(), local.c_str());
  }
  if (j.contains("stream") && j["stream"].is_string())
    std::printf("  stream:    %s\n", j["stream"].get<std::string>().c_str());
  if (j.contains("estimate_bytes")) {
    std::string observed = j.contains("observed_peak_bytes")
                               ? ", observed " + Bytes_(j["observed_peak_bytes"]) +
                                     (j.value("observation", "") == "at-most" ? " at most" : "")
                               : "";
    std::printf("  estimate:  %s%s\n", Bytes_(j["estimate_bytes"]).c_str(), observed.c_str());
  }
  if (j.contains("started_unix_ms") && j.contains("finished_unix_ms"))
    std::printf("  ran:       %s\n", Seconds(j["started_unix_ms"], j["finished_unix_ms"]).c_str());
  if (!j.value("reason", "").empty())
    std::printf("  reason:    %s\n", j["reason"].get<std::string>().c_str());
  if (j.contains("result_at") && j["result_at"].is_string())
    std::printf("  result:    %s\n", j["result_at"].get<std::string>().c_str());
}

// An id `vramguard job` reads as a fleet job's: with a '-' as vramguard's own ids have
// ("<host>-<unix ms>-<n>"; anything else that is not a number is a usage error), and one the API
// path carries as it is. Any other id a plain producer chose: `vramguard fleet --job ID`.
bool FleetJobId(const std::string& id) {
  if (id.find('-') == std::string::npos) return false;
  return fleet::ValidJobId(id) &&
         id.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:~-") ==
             std::string::npos;
}

// --wait for a job submitted to the fleet: its record until it ends, wherever it runs.
Result<int> WaitFleetJob(const std::string& id, bool as_json) {
  ProgressLine progress = ProgressLine::ForStderr(as_json);
  const auto begin = std::chrono::steady_clock::now();
  std::string last;
  for (;;) {
    auto g = CallDaemon("GET", "/v1/fleet/jobs/" + id);
    const double waited = ToSeconds(std::chrono::steady_clock::now() - begin);
    if (!g) {
      // Redis away for a while: the job goes on; so does the wait (Ctrl-C ends it).
      if (g.error().code != ErrorCode::kUnavailable) return std::unexpected(g.error());
      progress.Update("unreachable", fmt::format("fleet job {}: {} (waited {})", id,
                                                 g.error().message, WaitedText(waited)));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    const std::string state = g->value("state", "");
    std::string where = g->contains("host") && (*g)["host"].is_string()
                            ? " on " + (*g)["host"].get<std::string>()
                            : "";
    const std::string now = state + where;  // "taken on gpu-b"
    if (now != last && !as_json)
      progress.Above([&] { std::fprintf(stderr, "fleet job %s: %s\n", id.c_str(), now.c_str()); });
    last = now;
    if (fleet::FinalState(state)) {
      progress.Keep();
      if (as_json) {
        std::printf("%s\n", g->dump(2).c_str());
      } else {
        PrintFleetJob(*g);
        if (g->contains("result")) std::printf("%s\n", (*g)["result"].dump(2).c_str());
      }
      return state == "done" ? 0 : 1;
    }
    progress.Update(now, fmt::format("fleet job {}: {} (waited {})", id, now, WaitedText(waited)));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// A state name from the API: terminal as the store defines it (store/job_store.h).
bool IsTerminal(const std::string& s) {
  std::optional<JobState> state = ParseJobState(s);
  return state && vg::IsTerminal(*state);
}

Result<int> RunSubmit(const SubmitOptions& o) {
  json params = json::object();
  for (const std::string& a : o.params) {
    auto kv = ParseParamArg(a);
    if (!kv) return std::unexpected(kv.error());
    params[kv->first] = kv->second;
  }
  json body = {{"service", o.service}, {"params", params}};
  if (o.priority != 0) body["priority"] = o.priority;
  if (!o.key.empty()) body["idempotency_key"] = o.key;
  if (!o.payload_file.empty()) {
    std::ifstream in(o.payload_file, std::ios::binary);
    if (!in)
      return Fail(ErrorCode::kNotFound, "cannot read the payload file " + o.payload_file,
                  "name a readable file (JSON, or any text: it is sent as a string)");
    std::stringstream ss;
    ss << in.rdbuf();
    json p = json::parse(ss.str(), nullptr, false);
    body["payload"] = p.is_discarded() ? json(ss.str()) : p;
  }
  auto api = DaemonApi();
  if (!api) return std::unexpected(api.error());
  auto r = api->Request("POST", "/v1/jobs", body);
  if (!r) return std::unexpected(r.error());
  if (r->status == 422) {
    if (o.json) {
      std::printf("%s\n", r->json.dump(2).c_str());
    } else {
      std::fprintf(stderr, "vramguard: refused: %s\n", r->json.value("error", "").c_str());
      for (const json& s : r->json.value("suggestions", json::array()))
        std::fprintf(stderr, "  try: vramguard submit %s %s   (~%s)\n", o.service.c_str(),
                     Params(s["params"]).c_str(), Bytes_(s["estimate_bytes"]).c_str());
    }
    return kExitJobRefused;
  }
  if (r->status < 200 || r->status >= 300)
    return std::unexpected(ErrorFromResponse(r->status, r->json));
  json j = r->json;
  if (j.contains("fleet_job") && j["fleet_job"].is_string()) {  // a fleet host: on the shared queue
    const std::string fid = j["fleet_job"].get<std::string>();
    if (o.wait) return WaitFleetJob(fid, o.json);
    if (o.json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else if (j.value("duplicate", false)) {
      std::printf("fleet job %s (already submitted with this key)\n", fid.c_str());
    } else {
      std::printf("fleet job %s queued on the fleet (estimate %s, %s)\n", fid.c_str(),
                  Bytes_(j["estimate_bytes"]).c_str(), j.value("stream", "").c_str());
    }
    return 0;
  }
  const std::string id = std::to_string(j.value("id", 0LL));
  if (!o.wait) {
    if (o.json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::string where = j["position"].is_number()
                              ? ", position " + std::to_string(j["position"].get<long long>())
                              : "";
      std::string eta = j["position"].is_number() ? ", " + EtaText(j) : "";
      std::string source = j.contains("estimate_source") && j["estimate_source"].is_string()
                               ? ", " + j["estimate_source"].get<std::string>()
                               : "";
      std::printf("job %s %s (estimate %s%s%s%s)\n", id.c_str(), j.value("state", "").c_str(),
                  Bytes_(j["estimate_bytes"]).c_str(), source.c_str(), where.c_str(), eta.c_str());
    }
    return 0;
  }
  // --wait: follow the job until it ends; on a progress line its position and ETA while it
  // waits, its live VRAM while it runs (cli/progress.h).
  ProgressLine progress = ProgressLine::ForStderr(o.json);
  const auto begin = std::chrono::steady_clock::now();
  std::string last;
  for (;;) {
    auto g = CallDaemon("GET", "/v1/jobs/" + id);
    if (!g) return std::unexpected(g.error());
    std::string state = g->value("state", "");
    if (state != last && !o.json) {
      progress.Above([&] { std::fprintf(stderr, "job %s: %s\n", id.c_str(), state.c_str()); });
    }
    last = state;
    if (IsTerminal(state)) {
      progress.Keep();
      if (o.json) {
        std::printf("%s\n", g->dump(2).c_str());
      } else {
        PrintJob(*g);
        if (g->contains("result")) std::printf("%s\n", (*g)["result"].dump(2).c_str());
      }
      return state == "done" ? 0 : 1;
    }
    progress.Update(state + std::to_string(g->value("position", json(0)).is_number()
                                               ? (*g)["position"].get<long long>()
                                               : 0),
                    JobWaitText(*g, ToSeconds(std::chrono::steady_clock::now() - begin)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// `jobs --fleet`: the fleet's records changed last, newest first.
Result<int> RunFleetJobs(const ListOptions& o) {
  auto r = CallDaemon("GET", "/v1/fleet/jobs?limit=" + std::to_string(o.limit));
  if (!r) return std::unexpected(r.error());
  if (o.json) {
    std::printf("%s\n", r->dump(2).c_str());
    return 0;
  }
  std::printf("%-34s %-12s %-10s %-12s %-6s %-10s %s\n", "FLEET JOB", "SERVICE", "STATE", "HOST",
              "LOCAL", "ESTIMATE", "OBSERVED");
  for (const json& j : (*r)["jobs"]) {
    if (!o.state.empty() && o.state.find(j.value("state", "?")) == std::string::npos) continue;
    if (!o.service.empty() && j.value("service", "") != o.service) continue;
    std::printf("%-34s %-12s %-10s %-12s %-6s %-10s %s\n", j.value("fleet_job", "").c_str(),
                j.value("service", "-").c_str(), j.value("state", "").c_str(),
                j.value("host", "-").c_str(),
                j.value("local_id", json()).is_number() ? j["local_id"].dump().c_str() : "-",
                Bytes_(j.value("estimate_bytes", json())).c_str(),
                Bytes_(j.value("observed_peak_bytes", json())).c_str());
  }
  return 0;
}

Result<int> RunJobs(const ListOptions& o) {
  if (o.fleet) return RunFleetJobs(o);
  std::string target = "/v1/jobs?limit=" + std::to_string(o.limit);
  if (!o.state.empty()) target += "&state=" + o.state;
  if (!o.service.empty()) target += "&service=" + o.service;
  auto r = CallDaemon("GET", target);
  if (!r) return std::unexpected(r.error());
  if (o.json) {
    std::printf("%s\n", r->dump(2).c_str());
    return 0;
  }
  std::printf("%-6s %-12s %-10s %-10s %-10s %s\n", "ID", "SERVICE", "STATE", "ESTIMATE", "OBSERVED",
              "PARAMS");
  for (const json& j : (*r)["jobs"]) {
    std::string observed = Bytes_(j["observed_peak_bytes"]);
    if (j["observation"] == "at-most") observed.insert(0, "<=");  // censored: needed at most
    std::printf("%-6lld %-12s %-10s %-10s %-10s %s\n", j.value("id", 0LL),
                j.value("service", "").c_str(), j.value("state", "").c_str(),
                Bytes_(j["estimate_bytes"]).c_str(), observed.c_str(), Params(j["params"]).c_str());
  }
  return 0;
}

// A job id as the user typed it: digits only, else a usage error (status 2), not "not found".
Result<void> CheckJobId(const std::string& id) {
  const bool digits =
      !id.empty() && id.size() <= 19 && id.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) {
    return Fail(ErrorCode::kInvalidArgument, "'" + id + "' is not a job id",
                "job ids are whole numbers, as `vramguard jobs` lists them, or a fleet job's "
                "(gpu-a-1733250000000-1, as `vramguard jobs --fleet` lists them)");
  }
  return {};
}

Result<int> RunJob(const std::string& id, bool as_json) {
  if (FleetJobId(id)) {
    auto r = CallDaemon("GET", "/v1/fleet/jobs/" + id);
    if (!r) return std::unexpected(r.error());
    if (as_json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      PrintFleetJob(*r);
      if (r->contains("result")) std::printf("%s\n", (*r)["result"].dump(2).c_str());
    }
    return 0;
  }
  if (auto ok = CheckJobId(id); !ok) return std::unexpected(ok.error());
  auto r = CallDaemon("GET", "/v1/jobs/" + id);
  if (!r) return std::unexpected(r.error());
  if (as_json) {
    std::printf("%s\n", r->dump(2).c_str());
  } else {
    PrintJob(*r);
  }
  return 0;
}

Result<int> RunCancel(const std::string& id, bool as_json) {
  if (auto ok = CheckJobId(id); !ok) return std::unexpected(ok.error());
  auto r = CallDaemon("DELETE", "/v1/jobs/" + id);
  if (!r) return std::unexpected(r.error());
  if (r->value("cancelling", false)) {
    // Running: wait (briefly) for the daemon to record the cancellation.
    for (int i = 0; i < 100; ++i) {
      auto g = CallDaemon("GET", "/v1/jobs/" + id);
      if (g && IsTerminal(g->value("state", ""))) {
        *r = *g;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (as_json) {
    std::printf("%s\n", r->dump(2).c_str());
  } else {
    std::printf("job %s %s\n", id.c_str(), r->value("state", "").c_str());
  }
  return 0;
}

}  // namespace

Result<std::pair<std::string, json>> ParseParamArg(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    return Fail(ErrorCode::kInvalidArgument, "'" + arg + "' is not KEY=VALUE",
                "write parameters like resolution=768 frames=24");
  std::string key = arg.substr(0, eq), text = arg.substr(eq + 1);
  if (text == "true") return std::pair{key, json(true)};
  if (text == "false") return std::pair{key, json(false)};
  json v = json::parse(text, nullptr, false);
  if (!v.is_discarded() && v.is_number()) return std::pair{key, v};
  return std::pair{key, json(text)};
}

void AddJobCommands(CLI::App& app, std::function<Result<int>()>& run) {
  auto submit = std::make_shared<SubmitOptions>();
  auto* c = app.add_subcommand("submit", "Submit a job to a service's queue (VRAM admission)");
  c->add_option("service", submit->service, "The service")->required();
  c->add_option("params", submit->params, "Parameters as KEY=VALUE");
  c->add_option("--payload", submit->payload_file, "A file sent with the job (JSON or text)");
  c->add_option("--priority", submit->priority, "Higher runs first (default 0)");
  c->add_option("--key", submit->key, "Idempotency key: a resubmission returns the same job");
  c->add_flag("--wait", submit->wait, "Follow the job until it ends and print its result");
  c->add_flag("--json", submit->json, "One JSON document on stdout");
  c->callback([&run, submit] { run = [submit] { return RunSubmit(*submit); }; });

  auto list = std::make_shared<ListOptions>();
  auto* l = app.add_subcommand("jobs", "Jobs of the running daemon, newest first");
  l->add_option("--state", list->state, "Only these states (queued,running,…)");
  l->add_option("--service", list->service, "Only this service");
  l->add_option("-n,--limit", list->limit, "How many (default 50)");
  l->add_flag("--fleet", list->fleet, "The fleet's jobs, on every host, changed last first");
  l->add_flag("--json", list->json, "One JSON document on stdout");
  l->callback([&run, list] { run = [list] { return RunJobs(*list); }; });

  auto one = std::make_shared<std::pair<std::string, bool>>();
  auto* j = app.add_subcommand("job", "One job: state, estimate vs observed peak, result");
  j->add_option("id", one->first, "The job id (a number, or a fleet job's id)")->required();
  j->add_flag("--json", one->second, "One JSON document on stdout");
  j->callback([&run, one] { run = [one] { return RunJob(one->first, one->second); }; });

  auto cancel = std::make_shared<std::pair<std::string, bool>>();
  auto* x = app.add_subcommand("cancel", "Cancel a queued or running job");
  x->add_option("id", cancel->first, "The job id")->required();
  x->add_flag("--json", cancel->second, "One JSON document on stdout");
  x->callback(
      [&run, cancel] { run = [cancel] { return RunCancel(cancel->first, cancel->second); }; });
}

}  // namespace vg
