#include "cli/fleet_client.h"

#include <iostream>

#include <fmt/format.h>

#include "clock/clock.h"
#include "config/config.h"
#include "fleet/fleet_policy.h"
#include "fleet/redis_fleet_store.h"
#include "util/units.h"

namespace vg {

using nlohmann::json;

namespace {
constexpr std::size_t kMaxStreams = 4096;
constexpr std::size_t kDeadShown = 5;
}  // namespace

Result<json> ReadFleet(fleet::FleetStore& store, std::int64_t now_unix_ms) {
  json out = {{"hosts", json::array()}, {"queues", json::array()}};
  auto host_keys = store.Keys("vg:host:*", fleet::kMaxHosts);
  if (!host_keys) return std::unexpected(host_keys.error());
  for (const std::string& k : *host_keys) {
    auto h = store.GetHash(k);
    if (!h) return std::unexpected(h.error());
    auto info = fleet::ParseHostInfo(fleet::FieldOf(*h, "info"));
    if (!info) continue;
    json j = fleet::HostInfoJson(*info);
    j["alive"] = true;  // its record expires one lease after its last heartbeat
    j["seen_s_ago"] = (now_unix_ms - info->seen_unix_ms) / 1000.0;
    out["hosts"].push_back(j);
  }
  auto streams = store.Keys("vg:jobs:*", kMaxStreams);
  if (!streams) return std::unexpected(streams.error());
  std::int64_t waiting = 0, pending = 0;
  for (const std::string& s : *streams) {
    auto parsed = fleet::ParseStreamName(s);
    if (!parsed) continue;
    auto st = store.Stats(s);
    if (!st) return std::unexpected(st.error());
    waiting += st->waiting;
    pending += st->pending;
    out["queues"].push_back({{"stream", s},
                             {"service", parsed->service},
                             {"size_class", std::string(parsed->size_class.name)},
                             {"band", std::string(fleet::BandName(parsed->band))},
                             {"waiting", st->waiting},
                             {"pending", st->pending}});
  }
  out["waiting"] = waiting;
  out["pending"] = pending;
  auto dead = store.Length(std::string(fleet::kDeadStream));
  if (!dead) return std::unexpected(dead.error());
  out["dead_letters"] = *dead;
  json recent = json::array();
  auto last = store.Recent(std::string(fleet::kDeadStream), kDeadShown);
  if (!last) return std::unexpected(last.error());
  for (const fleet::StreamEntry& e : *last)
    recent.push_back({{"id", e.id},
                      {"job", fleet::FieldOf(e.fields, "job")},
                      {"service", fleet::FieldOf(e.fields, "service")},
                      {"reason", fleet::FieldOf(e.fields, "dead_reason")}});
  out["dead_recent"] = recent;
  return out;
}

void RenderFleet(const json& f, std::ostream& out) {
  out << fmt::format("{} host{} alive\n", f["hosts"].size(), f["hosts"].size() == 1 ? "" : "s");
  for (const json& h : f["hosts"]) {
    std::string gpus;
    for (const json& g : h["gpus"])
      gpus += fmt::format("{}GPU{} {} free of {}", gpus.empty() ? "" : ", ", g["index"].get<int>(),
                          FormatBytes(Bytes(g["free"].get<std::uint64_t>())),
                          FormatBytes(Bytes(g["total"].get<std::uint64_t>())));
    out << fmt::format("  {:<16} {} running, {} queued; {}\n", h["host"].get<std::string>(),
                       h["running"].get<std::int64_t>(), h["queued"].get<std::int64_t>(),
                       gpus.empty() ? "no GPU" : gpus);
    for (auto it = h["capacity"].begin(); it != h["capacity"].end(); ++it)
      out << fmt::format("    {} jobs up to {}\n", it.key(),
                         FormatBytes(Bytes(it.value().get<std::uint64_t>())));
  }
  out << fmt::format("queues: {} waiting, {} pending\n", f["waiting"].get<std::int64_t>(),
                     f["pending"].get<std::int64_t>());
  for (const json& q : f["queues"])
    out << fmt::format("  {:<32} {} waiting, {} pending\n", q["stream"].get<std::string>(),
                       q["waiting"].get<std::int64_t>(), q["pending"].get<std::int64_t>());
  out << fmt::format("dead letters: {}\n", f["dead_letters"].get<std::int64_t>());
  for (const json& d : f["dead_recent"])
    out << fmt::format("  {} ({}): {}\n", d["job"].get<std::string>(),
                       d["service"].get<std::string>(), d["reason"].get<std::string>());
}

Result<int> RunFleet(const FleetOptions& options) {
  const std::string path = options.config.empty() ? DefaultConfigPath() : options.config;
  ConfigResult config = LoadConfig(path);
  if (!config) {
    std::string why;
    for (const ConfigDiagnostic& d : config.error())
      why += (why.empty() ? "" : "; ") + d.ToString();
    return Fail(ErrorCode::kInvalidArgument, why);
  }
  if (!config->fleet.enabled)
    return Fail(ErrorCode::kNotFound, path + " has no [fleet] table",
                "add [fleet] redis = \"redis://HOST:6379/0\" and host = \"NAME\" (docs/fleet.md)");
  const FleetConfig& f = config->fleet;
  fleet::RedisFleetStore store(fleet::RedisEndpoint{f.redis_host, f.redis_port, f.redis_db, f.user,
                                                    f.password, f.connect_timeout, Millis(5000)});
  if (!options.job.empty()) {
    auto h = store.GetHash(fleet::JobKey(options.job));
    if (!h) return std::unexpected(h.error());
    if (h->empty())
      return Fail(ErrorCode::kNotFound, "no fleet job '" + options.job + "'",
                  "its record expires 7 days after its last change");
    json j = fleet::JobRecordJson(options.job, *h);
    if (options.json) {
      std::cout << j.dump() << "\n";
    } else {
      for (const auto& [k, v] : *h) std::cout << k << ": " << v << "\n";
    }
    return 0;
  }
  auto state = ReadFleet(store, UnixNowMs());
  if (!state) return std::unexpected(state.error());
  (*state)["redis"] = f.redis;
  if (options.json) {
    std::cout << state->dump() << "\n";
  } else {
    RenderFleet(*state, std::cout);
  }
  return 0;
}

}  // namespace vg
