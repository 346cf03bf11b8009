#include "fleet/fleet_policy.h"

#include <algorithm>
#include <charconv>

namespace vg::fleet {
namespace {

std::optional<std::int64_t> WholeInt(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.size() > 20) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

const std::vector<SizeClass>& SizeClasses() {
  static const std::vector<SizeClass> kClasses = {
      {"le1g", Bytes::GiB(1)},     {"le2g", Bytes::GiB(2)},     {"le4g", Bytes::GiB(4)},
      {"le8g", Bytes::GiB(8)},     {"le12g", Bytes::GiB(12)},   {"le16g", Bytes::GiB(16)},
      {"le20g", Bytes::GiB(20)},   {"le24g", Bytes::GiB(24)},   {"le32g", Bytes::GiB(32)},
      {"le40g", Bytes::GiB(40)},   {"le48g", Bytes::GiB(48)},   {"le64g", Bytes::GiB(64)},
      {"le80g", Bytes::GiB(80)},   {"le96g", Bytes::GiB(96)},   {"le128g", Bytes::GiB(128)},
      {"le192g", Bytes::GiB(192)}, {"le256g", Bytes::GiB(256)},
  };
  return kClasses;
}

std::optional<SizeClass> ClassFor(Bytes estimate) {
  for (const SizeClass& c : SizeClasses())
    if (estimate <= c.limit) return c;
  return std::nullopt;
}

Bytes ReadableLimit(Bytes capacity) {
  Bytes out;
  for (const SizeClass& c : SizeClasses())
    if (c.limit <= capacity) out = c.limit;
  return out;
}

Band BandFor(int priority) {
  return priority > 0 ? Band::kHigh : priority < 0 ? Band::kLow : Band::kNormal;
}

std::string_view BandName(Band b) {
  switch (b) {
    case Band::kHigh:
      return "high";
    case Band::kLow:
      return "low";
    case Band::kNormal:
      break;
  }
  return "normal";
}

std::string StreamName(std::string_view service, const SizeClass& c, Band band) {
  std::string out = "vg:jobs:" + std::string(service) + ":" + std::string(c.name);
  if (band == Band::kHigh) out += ":hi";
  if (band == Band::kLow) out += ":lo";
  return out;
}

std::vector<std::string> PullOrder(std::string_view service,
                                   const std::vector<SizeClass>& classes) {
  std::vector<std::string> out;
  for (Band b : kBands)
    for (const SizeClass& c : classes) out.push_back(StreamName(service, c, b));
  return out;
}
std::string HostKey(std::string_view host) { return "vg:host:" + std::string(host); }
std::string IdemKey(std::string_view key) { return "vg:idem:" + std::string(key); }
std::string JobKey(std::string_view fleet_job) { return "vg:job:" + std::string(fleet_job); }

std::optional<StreamKey> ParseStreamName(std::string_view stream) {
  constexpr std::string_view kPrefix = "vg:jobs:";
  if (!stream.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = stream.substr(kPrefix.size());
  Band band = Band::kNormal;
  if (rest.ends_with(":hi") || rest.ends_with(":lo")) {
    band = rest.ends_with(":hi") ? Band::kHigh : Band::kLow;
    rest.remove_suffix(3);
  }
  std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view cls = rest.substr(colon + 1);
  for (const SizeClass& c : SizeClasses())
    if (c.name == cls) return StreamKey{std::string(rest.substr(0, colon)), c, band};
  return std::nullopt;
}

bool ValidJobId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool FinalState(std::string_view state) {
  return state == "done" || state == "failed" || state == "cancelled" || state == "refused" ||
         state == "dead";
}

nlohmann::json JobRecordJson(std::string_view fleet_job, const Fields& record) {
  nlohmann::json out = {{"fleet_job", std::string(fleet_job)}};
  for (const auto& [k, v] : record) {
    if (k == "result") {
      nlohmann::json r = nlohmann::json::parse(v, nullptr, false);
      out[k] = r.is_discarded() ? nlohmann::json(v) : r;
      continue;
    }
    const bool number = k == "local_id" || k == "priority" || k == "gpu" || k.ends_with("_bytes") ||
                        k.ends_with("_unix_ms") || k.ends_with("_ms");
    if (number)
      if (auto n = WholeInt(v)) {
        out[k] = *n;
        continue;
      }
    out[k] = v;
  }
  return out;
}

std::string IdemValue(std::string_view job, std::int64_t unix_ms) {
  return std::string(job) + " " + std::to_string(unix_ms);
}

IdemHolder ParseIdemValue(std::string_view value) {
  IdemHolder h;
  const std::size_t space = value.rfind(' ');
  if (space != std::string_view::npos) {
    if (auto ms = WholeInt(value.substr(space + 1))) {
      h.job = std::string(value.substr(0, space));
      h.unix_ms = *ms;
      return h;
    }
  }
  h.job = std::string(value);
  return h;
}

bool StaleIdemClaim(const IdemHolder& holder, bool job_has_record, std::int64_t now_unix_ms) {
  if (job_has_record) return false;
  return now_unix_ms - holder.unix_ms > kIdemGraceMs;
}

Fields EncodeEntry(const JobEntry& e) {
  Fields f;
  f.emplace_back("job", e.job);
  f.emplace_back("service", e.service);
  f.emplace_back("params", e.params.dump());
  if (!e.payload.empty()) f.emplace_back("payload", e.payload);
  f.emplace_back("priority", std::to_string(e.priority));
  f.emplace_back("estimate", std::to_string(e.estimate.count()));
  f.emplace_back("idempotent", e.idempotent ? "1" : "0");
  if (!e.idempotency_key.empty()) f.emplace_back("idempotency_key", e.idempotency_key);
  f.emplace_back("submitted_by", e.submitted_by);
  f.emplace_back("submitted_unix_ms", std::to_string(e.submitted_unix_ms));
  return f;
}

Result<JobEntry> DecodeEntry(const Fields& fields) {
  if (fields.size() > kMaxEntryFields)
    return Fail(ErrorCode::kInvalidArgument, "the entry has " + std::to_string(fields.size()) +
                                                 " fields, more than " +
                                                 std::to_string(kMaxEntryFields));
  JobEntry e;
  bool has_job = false, has_service = false, has_params = false;
  for (const auto& [k, v] : fields) {
    if (v.size() > kMaxFieldBytes)
      return Fail(ErrorCode::kInvalidArgument, "field '" + k + "' is over 1 MiB");
    if (k == "job") {
      if (v.empty() || v.size() > 128)
        return Fail(ErrorCode::kInvalidArgument, "'job' must be 1 to 128 bytes");
      e.job = v;
      has_job = true;
    } else if (k == "service") {
      e.service = v;
      has_service = !v.empty();
    } else if (k == "params") {
      nlohmann::json p = nlohmann::json::parse(v, nullptr, false);
      if (p.is_discarded() || !p.is_object())
        return Fail(ErrorCode::kInvalidArgument, "'params' is not a JSON object");
      e.params = std::move(p);
      has_params = true;
    } else if (k == "payload") {
      if (!v.empty() && nlohmann::json::parse(v, nullptr, false).is_discarded())
        return Fail(ErrorCode::kInvalidArgument, "'payload' is not JSON");
      e.payload = v;
    } else if (k == "priority") {
      auto n = WholeInt(v);
      if (!n || *n < -1000 || *n > 1000)
        return Fail(ErrorCode::kInvalidArgument, "'priority' must be an integer -1000..1000");
      e.priority = static_cast<int>(*n);
    } else if (k == "estimate") {
      auto n = WholeInt(v);
      if (!n || *n < 0) return Fail(ErrorCode::kInvalidArgument, "'estimate' must be bytes ≥ 0");
      e.estimate = Bytes(static_cast<std::uint64_t>(*n));
    } else if (k == "idempotent") {
      if (v != "0" && v != "1")
        return Fail(ErrorCode::kInvalidArgument, "'idempotent' must be 0 or 1");
      e.idempotent = v == "1";
    } else if (k == "idempotency_key") {
      if (v.size() > 200)
        return Fail(ErrorCode::kInvalidArgument, "'idempotency_key' is over 200 bytes");
      e.idempotency_key = v;
    } else if (k == "submitted_by") {
      e.submitted_by = v.substr(0, 128);
    } else if (k == "submitted_unix_ms") {
      auto n = WholeInt(v);
      if (!n) return Fail(ErrorCode::kInvalidArgument, "'submitted_unix_ms' is not an integer");
      e.submitted_unix_ms = *n;
    }
  }
  if (!has_job) return Fail(ErrorCode::kInvalidArgument, "the entry has no 'job' field");
  if (!has_service) return Fail(ErrorCode::kInvalidArgument, "the entry has no 'service' field");
  if (!has_params) e.params = nlohmann::json::object();
  return e;
}

TakeoverDecision DecideTakeover(std::int64_t deliveries, int max_deliveries, bool idempotent,
                                std::string_view previous_host) {
  const std::string who = previous_host.empty() ? "its host" : std::string(previous_host);
  if (deliveries > max_deliveries)
    return {TakeoverAction::kDead,
            "delivered " + std::to_string(deliveries) + " times, more than max_deliveries = " +
                std::to_string(max_deliveries) + " (last host: " + who + ")"};
  if (!idempotent)
    return {TakeoverAction::kHostLost,
            "host lost: " + who +
                " stopped renewing its lease while it held the job, and the service does not "
                "declare jobs idempotent, so it is not run again"};
  return {TakeoverAction::kRun, "taken over from " + who + " (idempotent: run again)"};
}

bool OverDelivered(std::int64_t deliveries, int max_deliveries) {
  return deliveries > max_deliveries;
}

nlohmann::json HostInfoJson(const HostInfo& h) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const HostInfo::Gpu& g : h.gpus)
    gpus.push_back({{"index", g.index}, {"total", g.total.count()}, {"free", g.free.count()}});
  nlohmann::json cap = nlohmann::json::object();
  for (const auto& [s, b] : h.capacity) cap[s] = b.count();
  return {{"host", h.host},  {"seen_unix_ms", h.seen_unix_ms}, {"gpus", gpus},
          {"capacity", cap}, {"running", h.running},           {"queued", h.queued}};
}

Result<HostInfo> ParseHostInfo(std::string_view text) {
  if (text.size() > kMaxFieldBytes)
    return Fail(ErrorCode::kInvalidArgument, "host info over 1 MiB");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Fail(ErrorCode::kInvalidArgument, "host info is not a JSON object");
  HostInfo h;
  try {
    h.host = j.at("host").get<std::string>();
    h.seen_unix_ms = j.value("seen_unix_ms", std::int64_t{0});
    h.running = j.value("running", std::int64_t{0});
    h.queued = j.value("queued", std::int64_t{0});
    if (j.contains("gpus") && j["gpus"].is_array()) {
      for (const auto& g : j["gpus"]) {
        if (h.gpus.size() >= 64) break;
        h.gpus.push_back(HostInfo::Gpu{g.at("index").get<unsigned>(),
                                       Bytes(g.at("total").get<std::uint64_t>()),
                                       Bytes(g.at("free").get<std::uint64_t>())});
      }
    }
    if (j.contains("capacity") && j["capacity"].is_object()) {
      for (auto it = j["capacity"].begin(); it != j["capacity"].end(); ++it) {
        if (h.capacity.size() >= 256) break;
        h.capacity[it.key()] = Bytes(it.value().get<std::uint64_t>());
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("host info: ") + e.what());
  }
  return h;
}

std::optional<Bytes> LargestCapacity(const std::vector<HostInfo>& hosts, std::string_view service) {
  std::optional<Bytes> best;
  for (const HostInfo& h : hosts) {
    auto it = h.capacity.find(std::string(service));
    if (it == h.capacity.end()) continue;
    if (!best || it->second > *best) best = it->second;
  }
  return best;
}

Millis ReconnectDelay(int attempt) {
  if (attempt < 0) attempt = 0;
  std::int64_t ms = 100;
  for (int i = 0; i < attempt && ms < 5000; ++i) ms *= 2;
  return Millis(std::min<std::int64_t>(ms, 5000));
}

}  // namespace vg::fleet
