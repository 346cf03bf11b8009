// The job endpoints of the control API (docs/api.md, "Jobs"): the routes, and each request's
// parsing, validation and error mapping (400/404/409/413/422 answers). The work behind them —
// planning, the durable record, running — is JobManager's (job_manager.cc and the job_* files).
#include <optional>
#include <set>
#include <utility>

#include "daemon/job_manager_impl.h"

namespace vg {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxSuggestions = 3;

HttpResponse NoSuchJob(const std::string& id) {
  return HttpResponse::Error(404, "no job " + id, "see `vramguard jobs`");
}

// The stored record `id_text` names, or the answer to give when there is none (404, or the
// store's error).
std::expected<JobRecord, HttpResponse> LoadJob(JobStore& store, const std::string& id_text) {
  auto id = ParseJobId(id_text);
  if (!id) return std::unexpected(NoSuchJob(id_text));
  auto rec = store.Get(*id);
  if (!rec)
    return std::unexpected(rec.error().code == ErrorCode::kNotFound ? NoSuchJob(id_text)
                                                                    : ErrorResponse(rec.error()));
  return std::move(*rec);
}

}  // namespace

HandlerResult JobManager::Submit(const HttpRequest& request) {
  Impl& m = *impl_;
  // A job accepted now would be queued for a daemon on its way out (docs/daemon.md).
  if (m.shutting_down)
    return HttpResponse::Error(503, "the daemon is shutting down: not accepting jobs",
                               "submit it again once the daemon is back");
  auto parsed = ParseJsonBody(request);
  if (!parsed) return parsed.error();
  const json& body = *parsed;
  if (!body.is_object())
    return HttpResponse::Error(400, "the body must be a JSON object",
                               R"(send {"service": "NAME", "params": {…}})");
  for (auto it = body.begin(); it != body.end(); ++it) {
    static const std::set<std::string> kKnown = {"service", "params", "payload", "priority",
                                                 "idempotency_key"};
    if (!kKnown.count(it.key()))
      return HttpResponse::Error(400, "unknown field '" + it.key() + "'",
                                 "fields: service, params, payload, priority, idempotency_key");
  }
  if (!body.contains("service") || !body["service"].is_string())
    return HttpResponse::Error(400, "'service' must name a service (a string)");
  const std::string service = body["service"];
  const ServiceConfig* cfg = m.port.ConfigOf(service);
  if (!cfg)
    return HttpResponse::Error(404, "no service named '" + service + "'", "see `vramguard status`");
  if (!cfg->jobs.enabled || !m.planner.Has(service))
    return HttpResponse::Error(404, "service '" + service + "' takes no jobs",
                               "declare jobs = { endpoint = … } for it in the config");
  const json params = body.value("params", json::object());
  if (!params.is_object()) return HttpResponse::Error(400, "'params' must be a JSON object");
  int priority = 0;
  if (body.contains("priority")) {
    if (!body["priority"].is_number_integer() || body["priority"].get<std::int64_t>() < -1000 ||
        body["priority"].get<std::int64_t>() > 1000)
      return HttpResponse::Error(400, "'priority' must be an integer from -1000 to 1000");
    priority = body["priority"].get<int>();
  }
  std::optional<std::string> key;
  if (body.contains("idempotency_key")) {
    if (!body["idempotency_key"].is_string() ||
        body["idempotency_key"].get<std::string>().empty() ||
        body["idempotency_key"].get<std::string>().size() > 256)
      return HttpResponse::Error(400, "'idempotency_key' must be a string of 1 to 256 characters");
    key = body["idempotency_key"].get<std::string>();
  }
  // A known key answers with its job whatever else this request asks (docs/api.md), even where
  // the payload, the params or admission would now say no: every answer below but the 202 goes
  // through here. On the way to a 202 the key is not looked up: the insert finds a known one
  // itself (SubmitBatch: duplicate, answered 200 with that job), one query less per submission.
  auto known_answer = [&]() -> std::optional<HttpResponse> {
    if (!key) return std::nullopt;
    auto known = m.store.FindByKey(service, *key);
    if (!known) return ErrorResponse(known.error());
    if (!*known) return std::nullopt;
    json j = m.JobJson(**known);
    j["duplicate"] = true;
    return HttpResponse::Json(200, j);
  };
  auto unless_known = [&](HttpResponse answer) {
    return known_answer().value_or(std::move(answer));
  };
  std::string payload;
  if (body.contains("payload") && !body["payload"].is_null()) payload = body["payload"].dump();
  if (payload.size() > cfg->jobs.max_payload.count() || payload.size() > kMaxJobPayloadBytes)
    return unless_known(HttpResponse::Error(
        413,
        "the payload is " + FormatBytes(Bytes(payload.size())) + ", more than " + service +
            "'s max_payload of " + FormatBytes(cfg->jobs.max_payload),
        "send a smaller payload, or raise jobs.max_payload in the config"));
  std::string bad;
  auto valid = m.planner.Validate(service, params, &bad);
  if (!valid) {
    HttpResponse r = HttpResponse::Error(400, valid.error().message, valid.error().hint);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_object() && !bad.empty()) {
      j["parameter"] = bad;
      r.body = j.dump();
    }
    return unless_known(std::move(r));
  }
  PlanEstimate est = m.planner.Estimate(service, *valid);
  if (m.fleet_submit && !m.local_submit && !m.door_submit) {
    // Fleet mode: the job goes to the fleet's queue; the host whose ledger admits it runs it.
    return m.fleet_submit(FleetSubmission{service, *valid, payload, priority, key,
                                          est.bytes.count(), cfg->jobs.idempotent});
  }
  const SteadyTime now = m.clock.Now();
  PlanCluster cluster = m.Cluster(false);

  JobRecord rec;
  rec.service = service;
  rec.params = *valid;
  rec.payload = payload;
  rec.priority = priority;
  rec.idempotency_key = key;
  rec.submitted_unix_ms = m.NowMs();
  rec.estimate_bytes = est.bytes;
  rec.idempotent = cfg->jobs.idempotent && !m.door_submit;
  if (m.door_submit) rec.origin = JobOrigin::kDoor;

  std::optional<Decision> decision;
  if (!cluster.gpus.empty())
    decision =
        m.planner.Decide(cluster, "", service, priority, ~std::uint64_t{0}, now, est.bytes, now);
  if (decision && decision->verdict == Verdict::kRefuse) {
    if (auto known = known_answer()) return std::move(*known);
    auto sugg = m.planner.Suggest(service, *valid, decision->capacity, kMaxSuggestions);
    std::string why =
        m.planner.DescribeRefusal(service, *valid, est.bytes, decision->capacity, sugg);
    if (why.empty()) why = decision->reason;
    rec.state = JobState::kRefused;
    rec.reason = why;
    rec.finished_unix_ms = rec.submitted_unix_ms;
    auto stored = m.store.Submit(rec);
    if (!stored) return ErrorResponse(stored.error());
    json list = json::array();
    for (const PlanSuggestion& p : sugg)
      list.push_back({{"params", p.params}, {"estimate_bytes", p.estimate.count()}});
    if (!stored->duplicate)
      m.Emit(service, "job-refused", "job " + std::to_string(stored->job.id) + " refused: " + why,
             {{"job", stored->job.id},
              {"params", *valid},
              {"estimate_bytes", est.bytes.count()},
              {"capacity_bytes", decision->capacity.count()},
              {"suggestions", list}});
    return HttpResponse::Json(422, {{"error", why},
                                    {"id", stored->job.id},
                                    {"state", JobStateName(stored->job.state)},
                                    {"estimate_bytes", est.bytes.count()},
                                    {"capacity_bytes", decision->capacity.count()},
                                    {"suggestions", list}});
  }
  auto p = std::make_shared<PendingSubmit>();
  p->rec = std::move(rec);
  p->params = *valid;
  p->est = est;
  p->decision = decision;
  p->now = now;
  if (auto v = m.port.Look(service)) p->instance = v->instance;
  p->door = m.door_submit;
  Impl* im = impl_.get();
  return DeferredResponse{[im, p](Responder respond) {
    p->respond = std::move(respond);
    im->pending.push_back(p);
    if (!im->flush_posted) {
      im->flush_posted = true;
      // After the handlers already queued (and more passes while the batch grows, FlushSubmits):
      // the requests read meanwhile join the same commit.
      asio::post(im->io, [im] { im->FlushSubmits(); });
    }
  }};
}

HandlerResult JobManager::SubmitLocal(const HttpRequest& request) {
  impl_->local_submit = true;
  HandlerResult r = Submit(request);
  impl_->local_submit = false;
  return r;
}

void JobManager::SetFleetSubmit(FleetSubmit submit) { impl_->fleet_submit = std::move(submit); }

bool JobManager::CouldAdmitNow(const std::string& service, std::uint64_t bytes) {
  Impl& m = *impl_;
  if (m.shutting_down || !m.JobService(service) || !m.planner.Has(service)) return false;
  PlanCluster c = m.Cluster(false);
  if (c.gpus.empty()) return false;
  const SteadyTime now = m.clock.Now();
  Decision d = m.planner.Decide(c, "", service, 0, ~std::uint64_t{0}, now, Bytes(bytes), now);
  return d.verdict == Verdict::kAdmit || d.verdict == Verdict::kStartService;
}

std::uint64_t JobManager::Capacity(const std::string& service) {
  Impl& m = *impl_;
  if (!m.JobService(service) || !m.planner.Has(service)) return 0;
  PlanCluster c = m.Cluster(false);
  if (c.gpus.empty()) return 0;
  const SteadyTime now = m.clock.Now();
  // A job larger than any card: core refuses it and says what the largest could hold.
  Decision d =
      m.planner.Decide(c, "", service, 0, ~std::uint64_t{0}, now, Bytes::GiB(1 << 20), now);
  return d.verdict == Verdict::kRefuse ? d.capacity.count() : 0;
}

HttpResponse JobManager::RefuseForFleet(const FleetSubmission& s, std::uint64_t capacity,
                                        const std::string& where) {
  Impl& m = *impl_;
  auto sugg = m.planner.Suggest(s.service, s.params, Bytes(capacity), kMaxSuggestions);
  std::string why = m.planner.DescribeRefusal(s.service, s.params, Bytes(s.estimate_bytes),
                                              Bytes(capacity), sugg);
  if (why.empty()) why = "the job needs " + FormatBytes(Bytes(s.estimate_bytes));
  why += " (no host of the fleet can hold it: the largest, " + where + ", takes jobs up to " +
         FormatBytes(Bytes(capacity)) + ")";
  json list = json::array();
  for (const PlanSuggestion& p : sugg)
    list.push_back({{"params", p.params}, {"estimate_bytes", p.estimate.count()}});
  return HttpResponse::Json(422, {{"error", why},
                                  {"state", "refused"},
                                  {"estimate_bytes", s.estimate_bytes},
                                  {"capacity_bytes", capacity},
                                  {"largest_host", where},
                                  {"suggestions", list}});
}

std::vector<std::string> JobManager::JobServiceNames() const { return impl_->JobServices(); }

std::vector<JobManager::GpuBrief> JobManager::Gpus() {
  std::vector<GpuBrief> out;
  if (const vg::GpuSnapshot* sn = impl_->Snapshot(false))
    for (const GpuInfo& g : sn->gpus)
      if (!g.problem) out.push_back(GpuBrief{g.index, g.usable_total().count(), g.free.count()});
  return out;
}

HttpResponse JobManager::Get(const std::string& id_text) {
  auto rec = LoadJob(impl_->store, id_text);
  if (!rec) return std::move(rec.error());
  json j = impl_->JobJson(*rec);
  if (rec->state == JobState::kQueued && impl_->planner.Position(id_text) > 0) {
    // Why it waits and roughly until when, as the planner sees it now.
    PlanCluster c = impl_->Cluster(false);
    if (!c.gpus.empty()) {
      Decision d = impl_->planner.Decide(c, id_text, rec->service, rec->priority,
                                         static_cast<std::uint64_t>(rec->id), impl_->clock.Now(),
                                         rec->estimate_bytes, impl_->clock.Now());
      AddEta(j, d, rec->service);
      j["waiting_for"] = d.reason;
    }
  }
  return HttpResponse::Json(200, j);
}

HttpResponse JobManager::List(const HttpRequest& r) {
  JobFilter f;
  if (auto it = r.query.find("state"); it != r.query.end() && !it->second.empty()) {
    std::string rest = it->second;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string one = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      auto st = ParseJobState(one);
      if (!st)
        return HttpResponse::Error(400, "unknown job state '" + one + "'",
                                   "states: queued, starting, running, done, failed, cancelled, "
                                   "refused, interrupted");
      f.states.push_back(*st);
    }
  }
  if (auto it = r.query.find("service"); it != r.query.end()) f.service = it->second;
  f.limit = 100;
  if (auto it = r.query.find("limit"); it != r.query.end()) {
    auto v = ParseJobId(it->second);
    if (!v || *v < 1 || *v > 10000)
      return HttpResponse::Error(400, "'limit' must be a number from 1 to 10000");
    f.limit = static_cast<int>(*v);
  }
  f.newest_first = true;
  if (auto it = r.query.find("after_id"); it != r.query.end()) {
    auto v = ParseJobId(it->second);
    if (!v) return HttpResponse::Error(400, "'after_id' must be a job id");
    f.after_id = *v;
    f.newest_first = false;
  }
  auto list = impl_->store.List(f);
  if (!list) return ErrorResponse(list.error());
  json jobs = json::array();
  for (const JobRecord& j : *list) jobs.push_back(impl_->JobJson(j));
  json counts = impl_->ServiceCounts(f.service);
  return HttpResponse::Json(200, {{"jobs", jobs}, {"counts", counts}});
}

HttpResponse JobManager::Cancel(const std::string& id_text) {
  Impl& m = *impl_;
  auto rec = LoadJob(m.store, id_text);
  if (!rec) return std::move(rec.error());
  const JobId id = rec->id;
  if (IsTerminal(rec->state))
    return HttpResponse::Error(
        409, "job " + id_text + " is already " + std::string(JobStateName(rec->state)), "");
  auto it = m.active.find(id);
  if (it != m.active.end() && it->second->dispatched && it->second->door) {
    return HttpResponse::Error(409,
                               "job " + id_text + " is a request through " + rec->service +
                                   "'s proxy and runs until the service answers it",
                               "its client ends it by closing its connection");
  }
  if (it != m.active.end() && it->second->dispatched) {
    // Running: close the connection; RunJob records the cancellation.
    it->second->cancel_requested = true;
    if (it->second->dispatch) it->second->dispatch->Abort();
    return HttpResponse::Json(202, {{"id", id},
                                    {"state", "running"},
                                    {"cancelling", true},
                                    {"note",
                                     "the connection to the service is closed; the "
                                     "service may still finish the work"}});
  }
  JobChange change;
  change.reason = "cancelled by a client";
  change.finished_unix_ms = m.NowMs();
  auto t = m.store.Transition(id, {JobState::kQueued, JobState::kStarting, JobState::kInterrupted},
                              JobState::kCancelled, change);
  if (!t) return ErrorResponse(t.error());
  if (!t->applied)
    return HttpResponse::Error(
        409, "job " + id_text + " is " + std::string(JobStateName(t->job.state)) + "; try again");
  if (rec->state == JobState::kQueued && m.svcs[rec->service].queued > 0)
    --m.svcs[rec->service].queued;
  m.planner.Remove(id_text);
  m.active.erase(id);
  m.Emit(rec->service, "job-cancelled",
         "job " + id_text + " cancelled while " + std::string(JobStateName(rec->state)),
         {{"job", id}, {"was", JobStateName(rec->state)}});
  m.PostReplan();
  return HttpResponse::Json(200, {{"id", id}, {"state", "cancelled"}});
}

HttpResponse JobManager::ResultOf(const std::string& id_text) {
  auto rec = LoadJob(impl_->store, id_text);
  if (!rec) return std::move(rec.error());
  if (rec->state != JobState::kDone)
    return HttpResponse::Error(
        409,
        "job " + id_text + " is " + std::string(JobStateName(rec->state)) +
            (rec->reason.empty() ? "" : " (" + rec->reason + ")") + "; it has no result",
        IsTerminal(rec->state) ? "" : "wait for it: `vramguard job " + id_text + "`");
  return HttpResponse::Json(200, rec->result);
}

void AddJobRoutes(Router& router, JobManager& jobs) {
  router.Add("POST", "/v1/jobs", [&jobs](const HttpRequest& r, const PathParams&) -> HandlerResult {
    return jobs.Submit(r);
  });
  router.Add("GET", "/v1/jobs", [&jobs](const HttpRequest& r, const PathParams&) -> HandlerResult {
    return jobs.List(r);
  });
  router.Add("GET", "/v1/jobs/{id}",
             [&jobs](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return jobs.Get(p.at("id"));
             });
  router.Add("DELETE", "/v1/jobs/{id}",
             [&jobs](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return jobs.Cancel(p.at("id"));
             });
  router.Add("GET", "/v1/jobs/{id}/result",
             [&jobs](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return jobs.ResultOf(p.at("id"));
             });
}

}  // namespace vg
