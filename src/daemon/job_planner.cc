// The door to core's admission: conversions between the daemon's plain plan types and core's.
// Includes core/ledger.h and core/estimator.h, so never gpu/gpu_probe.h or store/job_store.h
// (they declare clashing names; see job_planner.h).
#include "daemon/job_planner.h"

#include "core/admission.h"
#include "core/estimator.h"
#include "core/ledger.h"
#include "core/suggest.h"

namespace vg {
namespace {

JobParams ToParams(const nlohmann::json& j) {
  JobParams p;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) p[it.key()] = it.value();
  }
  return p;
}

nlohmann::json ToJson(const JobParams& p) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : p) j[k] = v;
  return j;
}

ClusterSnapshot ToCore(const PlanCluster& c) {
  ClusterSnapshot out;
  for (const PlanGpu& g : c.gpus) {
    LedgerGpu s;
    s.index = g.index;
    s.total = g.total;
    s.driver_free = g.driver_free;
    s.reserve = g.reserve;
    out.gpus.push_back(s);
  }
  for (const PlanService& s : c.services) {
    ServiceSnapshot o;
    o.name = s.name;
    o.gpus = s.gpus;
    o.state = s.state == PlanService::Run::kRunning    ? ServiceRun::kRunning
              : s.state == PlanService::Run::kStarting ? ServiceRun::kStarting
                                                       : ServiceRun::kStopped;
    o.held = s.held;
    o.baseline = s.baseline;
    for (const PlanRunningJob& j : s.running) {
      RunningJobSnapshot r;
      r.id = j.id;
      r.gpu = j.gpu;
      r.estimate = j.estimate;
      r.at_peak = j.at_peak;
      r.started = j.started;
      o.running.push_back(std::move(r));
    }
    o.concurrency = s.concurrency;
    o.idle_since = s.idle_since;
    o.startup_time = s.startup_time;
    o.start_vram = s.start_vram;
    o.has_release_hook = s.has_release_hook;
    out.services.push_back(std::move(o));
  }
  return out;
}

}  // namespace

JobSchema SchemaFromConfig(const JobsConfig& jobs) {
  JobSchema schema;
  for (const JobParamConfig& p : jobs.params) {
    ParamSpec s;
    s.name = p.name;
    switch (p.type) {
      case JobParamConfig::Type::kInt:
        s.type = ParamSpec::Type::kInt;
        break;
      case JobParamConfig::Type::kFloat:
        s.type = ParamSpec::Type::kFloat;
        break;
      case JobParamConfig::Type::kBool:
        s.type = ParamSpec::Type::kBool;
        break;
      case JobParamConfig::Type::kString:
        s.type = ParamSpec::Type::kString;
        break;
    }
    s.min = p.min;
    s.max = p.max;
    for (double c : p.choices) {
      if (p.type == JobParamConfig::Type::kInt)
        s.choices.push_back(static_cast<std::int64_t>(c));
      else
        s.choices.push_back(c);
    }
    for (const std::string& c : p.choices_text) s.choices.push_back(c);
    if (p.default_number) {
      if (p.type == JobParamConfig::Type::kInt)
        s.default_value = static_cast<std::int64_t>(*p.default_number);
      else
        s.default_value = *p.default_number;
    }
    if (p.default_bool) s.default_value = *p.default_bool;
    if (p.default_text) s.default_value = *p.default_text;
    s.memory_exponent = p.memory_exponent;
    schema.params.push_back(std::move(s));
  }
  for (const SizingRowConfig& r : jobs.sizing) {
    SizingRow row;
    for (const auto& [k, v] : r.params) {
      const JobParamConfig* decl = nullptr;
      for (const JobParamConfig& p : jobs.params)
        if (p.name == k) decl = &p;
      if (decl && decl->type == JobParamConfig::Type::kInt)
        row.params[k] = static_cast<std::int64_t>(v);
      else
        row.params[k] = v;
    }
    row.bytes = r.vram;
    schema.sizing.push_back(std::move(row));
  }
  schema.concurrency = static_cast<unsigned>(std::max(1, jobs.concurrency));
  return schema;
}

struct JobPlanner::State {
  struct Svc {
    std::string key;  // the schema as JSON text: a change resets what was learned
    std::unique_ptr<Estimator> estimator;
  };
  std::map<std::string, Svc> services;
  JobQueue queue;
  DurationBook durations;  // the recent run durations of each service's jobs (bounded)

  const Estimator* Find(const std::string& service) const {
    auto it = services.find(service);
    return it == services.end() ? nullptr : it->second.estimator.get();
  }
};

JobPlanner::JobPlanner() : st_(std::make_unique<State>()) {}
JobPlanner::~JobPlanner() = default;

static std::string SchemaKey(const JobsConfig& jobs) {
  nlohmann::json j = nlohmann::json::array();
  for (const JobParamConfig& p : jobs.params)
    j.push_back({p.name, static_cast<int>(p.type), p.min.value_or(-1), p.max.value_or(-1),
                 p.choices, p.choices_text, p.memory_exponent, p.default_number.value_or(-1)});
  for (const SizingRowConfig& r : jobs.sizing) j.push_back({r.params, r.vram.count()});
  j.push_back(jobs.concurrency);
  return j.dump();
}

void JobPlanner::Configure(const std::string& service, const JobsConfig& jobs) {
  std::string key = SchemaKey(jobs);
  State::Svc& s = st_->services[service];
  if (s.estimator && s.key == key) return;
  s.key = key;
  s.estimator = std::make_unique<Estimator>(SchemaFromConfig(jobs));
}

bool JobPlanner::Has(const std::string& service) const { return st_->Find(service) != nullptr; }

Result<nlohmann::json> JobPlanner::Validate(const std::string& service,
                                            const nlohmann::json& params,
                                            std::string* bad_parameter) const {
  const Estimator* e = st_->Find(service);
  if (!e) return Fail(ErrorCode::kNotFound, "service '" + service + "' takes no jobs");
  nlohmann::json in = params.is_null() ? nlohmann::json::object() : params;
  auto p = ValidateParams(e->schema(), in, bad_parameter);
  if (!p) return std::unexpected(p.error());
  return ToJson(*p);
}

PlanEstimate JobPlanner::Estimate(const std::string& service, const nlohmann::json& params) const {
  const Estimator* e = st_->Find(service);
  if (!e) return {};
  vg::Estimate est = e->Predict(ToParams(params));
  return PlanEstimate{est.bytes, est.prior, est.source};
}

void JobPlanner::Observe(const std::string& service, const nlohmann::json& params, Bytes job_bytes,
                         PeakKind kind) {
  auto it = st_->services.find(service);
  if (it == st_->services.end()) return;
  Observation o;
  o.params = ToParams(params);
  o.bytes = job_bytes;
  o.kind = kind == PeakKind::kExact    ? ObservationKind::kExact
           : kind == PeakKind::kAtMost ? ObservationKind::kAtMost
                                       : ObservationKind::kAtLeast;
  it->second.estimator->Observe(o);
}

void JobPlanner::Enqueue(const std::string& id, const std::string& service, int priority,
                         std::uint64_t seq, SteadyTime submitted, Bytes estimate) {
  st_->queue.Add(QueuedJob{id, service, priority, seq, submitted, estimate});
}

void JobPlanner::Remove(const std::string& id) { st_->queue.Remove(id); }
std::size_t JobPlanner::Queued() const { return st_->queue.size(); }
std::size_t JobPlanner::Position(const std::string& id) const { return st_->queue.Position(id); }
std::size_t JobPlanner::CountAhead(const std::string& service, int priority) const {
  return st_->queue.CountAhead(service, priority);
}

std::vector<std::pair<std::string, Bytes>> JobPlanner::FirstQueued(const std::string& service,
                                                                   std::size_t n) const {
  std::vector<std::pair<std::string, Bytes>> out;
  auto it = st_->queue.services().find(service);
  if (it == st_->queue.services().end()) return out;
  for (const auto& [key, job] : it->second.jobs) {
    if (out.size() >= n) break;
    out.emplace_back(job.id, job.estimate);
  }
  return out;
}

void JobPlanner::RecordDuration(const std::string& service, Millis took) {
  vg::RecordDuration(&st_->durations, service, took);
}

std::vector<Decision> JobPlanner::Plan(const PlanCluster& cluster, SteadyTime now) const {
  return vg::Plan(ToCore(cluster), st_->queue, st_->durations, now);
}

Decision JobPlanner::Decide(const PlanCluster& cluster, const std::string& id,
                            const std::string& service, int priority, std::uint64_t seq,
                            SteadyTime submitted, Bytes estimate, SteadyTime now) const {
  ClusterSnapshot c = ToCore(cluster);
  QueuedJob j{id, service, priority, seq, submitted, estimate};
  return DecideJob(c, st_->queue, j, st_->durations, now);
}

std::vector<PlanSuggestion> JobPlanner::Suggest(const std::string& service,
                                                const nlohmann::json& params, Bytes capacity,
                                                std::size_t max_count) const {
  const Estimator* e = st_->Find(service);
  std::vector<PlanSuggestion> out;
  if (!e) return out;
  for (const Suggestion& s : vg::Suggest(*e, ToParams(params), capacity, max_count))
    out.push_back(PlanSuggestion{ToJson(s.params), s.estimate});
  return out;
}

std::string JobPlanner::DescribeRefusal(const std::string& service, const nlohmann::json& params,
                                        Bytes need, Bytes capacity,
                                        const std::vector<PlanSuggestion>& suggestions) const {
  const Estimator* e = st_->Find(service);
  if (!e) return "";
  std::vector<Suggestion> s;
  for (const PlanSuggestion& p : suggestions)
    s.push_back(Suggestion{ToParams(p.params), p.estimate, 0});
  return vg::DescribeRefusal(e->schema(), ToParams(params), need, capacity, s);
}

std::string JobPlanner::Describe(const std::string& service, const nlohmann::json& params) const {
  const Estimator* e = st_->Find(service);
  return e ? DescribeParams(e->schema(), ToParams(params)) : params.dump();
}

}  // namespace vg
