#include "daemon/fleet_agent.h"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <variant>
#include <vector>

#include "api/http.h"
#include "clock/clock.h"
#include "daemon/event_hub.h"
#include "fleet/fleet_policy.h"

namespace vg {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kCycle{100};
constexpr Millis kRecordTtl{7LL * 24 * 3600 * 1000};  // vg:job:<id>
constexpr Millis kIdemTtl{24LL * 3600 * 1000};        // vg:idem:<key>
constexpr std::size_t kTakeOverBatch = 4;

bool TerminalState(const std::string& s) {
  return s == "done" || s == "failed" || s == "cancelled" || s == "refused" || s == "interrupted";
}

// A stream entry to run here, and why it came.
struct ToRun {
  fleet::StreamEntry entry;
  fleet::JobEntry job;
  std::string why;  // "new", "recovered", "taken over from …"
};

// A local job of a fleet entry ended: its record and the XACK, kept until Redis takes them.
struct Ending {
  std::string stream;
  std::string entry;
  std::string job;
  fleet::Fields record;
};

struct CyclePlan {
  std::vector<Ending> endings;
  bool recover = false;
  std::vector<std::string> recover_streams;
  std::optional<fleet::HostInfo> beat;
  std::map<std::string, std::vector<std::string>> renew;  // stream → entry ids
  std::vector<std::string> takeover_streams;
  std::vector<std::vector<std::string>> pulls;  // per service: fleet::PullOrder's streams
  Millis lease{30000};  // the settings a reload may change, as they were when it was planned
  int max_deliveries = 3;
};

struct CycleResult {
  std::optional<Error> error;
  std::vector<Ending> unacked;         // Redis went away before these were written: next cycle
  std::vector<std::string> lost_ends;  // ended here after another host took the entry over
  bool recovered = false;
  std::optional<std::vector<fleet::HostInfo>> hosts;
  std::vector<std::pair<std::string, std::string>> lost;  // (stream, id) no longer ours
  std::vector<ToRun> run;
  std::int64_t host_lost = 0;
  std::int64_t dead = 0;
};

}  // namespace

struct FleetAgent::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_, const FleetConfig& cfg_, JobManager& jobs_, EventHub& events_,
       std::unique_ptr<fleet::FleetStore> store_)
      : io(io_), cfg(cfg_), jobs(jobs_), events(events_), store(std::move(store_)) {}

  asio::io_context& io;
  FleetConfig cfg;
  JobManager& jobs;
  EventHub& events;
  std::unique_ptr<fleet::FleetStore> store;  // the worker's only

  // ---- The worker thread: blocking Redis calls, one task at a time ----
  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> tasks;
  bool quit = false;
  std::set<std::string> groups;  // streams whose group exists (worker only)

  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return quit || !tasks.empty(); });
        if (quit) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task();
    }
  }
  void OnWorker(std::function<void()> task) {
    {
      std::lock_guard lock(mu);
      tasks.push_back(std::move(task));
    }
    cv.notify_one();
  }
  // vg:job:<job> gets `fields` (HSET: the others stay) and the job moves to the front of
  // vg:recent (what `jobs --fleet` lists).
  Result<void> PutRecord(const std::string& job, const fleet::Fields& fields) {
    auto put = store->PutHash(fleet::JobKey(job), fields, kRecordTtl);
    if (!put) return put;
    return store->NoteRecent(job, UnixNowMs());
  }
  Result<void> Group(const std::string& stream) {
    if (groups.count(stream)) return {};
    auto r = store->EnsureGroup(stream);
    if (r) groups.insert(stream);
    return r;
  }

  // ---- io thread state ----
  std::unique_ptr<asio::steady_timer> timer;
  bool stopping = false;
  bool cycle_busy = false;
  bool kicked = false;  // Kick() while a cycle ran: the next one at once
  bool recovered = false;
  bool connected = false;
  int failures = 0;
  std::string last_error;
  SteadyTime next_beat{}, next_renew{}, next_takeover{};
  struct Taken {
    std::string stream;
    std::string entry;
    std::string job;
    bool idempotent = false;
  };
  std::map<std::int64_t, Taken> taken;  // local job id → its entry
  std::map<std::string, int> inflight;  // service → entries handed to SubmitLocal, unanswered
  std::vector<Ending> unacked;          // ended here, not yet acknowledged on Redis
  std::vector<fleet::HostInfo> hosts;   // the registry as last read
  std::int64_t seq = 0;
  int subscription = 0;
  std::int64_t pulled = 0, taken_over = 0, host_lost = 0, dead = 0, submitted = 0, rerouted = 0;

  void Log(const std::string& line) { events.Log("fleet: " + line); }

  fleet::HostInfo SelfInfo() {
    fleet::HostInfo h;
    h.host = cfg.host;
    h.seen_unix_ms = UnixNowMs();
    for (const JobManager::GpuBrief& g : jobs.Gpus())
      h.gpus.push_back({g.index, Bytes(g.total), Bytes(g.free)});
    for (const std::string& s : jobs.JobServiceNames())
      if (std::uint64_t c = jobs.Capacity(s); c > 0) h.capacity[s] = Bytes(c);
    for (const auto& [s, n] : jobs.Live()) {
      h.running += n.running + n.starting;
      h.queued += n.queued;
    }
    return h;
  }

  std::vector<std::string> StreamsUpTo(const std::string& service, std::uint64_t capacity) {
    std::vector<std::string> out;
    for (const fleet::SizeClass& c : fleet::SizeClasses())
      if (c.limit.count() <= capacity)
        for (fleet::Band b : fleet::kBands) out.push_back(fleet::StreamName(service, c, b));
    return out;
  }

  void Arm(std::chrono::milliseconds in) {
    if (stopping) return;
    timer->expires_after(in);
    timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Cycle();
    });
  }

  // A job was just queued on the fleet from here: pull now rather than at the next tick (this
  // host only; the others find it within their cycle).
  void Kick() {
    if (stopping) return;
    if (cycle_busy) {
      kicked = true;
      return;
    }
    timer->cancel();
    Cycle();
  }

  void Cycle() {
    if (stopping) return;
    if (cycle_busy) return Arm(kCycle);
    cycle_busy = true;
    const SteadyTime now = std::chrono::steady_clock::now();
    const auto third = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.lease / 3);
    CyclePlan plan;
    plan.lease = cfg.lease;
    plan.max_deliveries = cfg.max_deliveries;
    plan.endings = std::move(unacked);
    unacked.clear();
    const std::vector<std::string> services = jobs.JobServiceNames();
    std::map<std::string, std::uint64_t> capacity;
    for (const std::string& s : services) capacity[s] = jobs.Capacity(s);
    if (!recovered) {
      plan.recover = true;
      for (const std::string& s : services)
        for (const fleet::SizeClass& c : fleet::SizeClasses())
          for (fleet::Band b : fleet::kBands)
            plan.recover_streams.push_back(fleet::StreamName(s, c, b));
    }
    if (now >= next_beat) {
      plan.beat = SelfInfo();
      next_beat = now + third;
    }
    if (now >= next_renew) {
      for (const auto& [id, t] : taken) plan.renew[t.stream].push_back(t.entry);
      next_renew = now + third;
    }
    if (now >= next_takeover) {
      for (const std::string& s : services)
        for (std::string& st : StreamsUpTo(s, capacity[s])) plan.takeover_streams.push_back(st);
      next_takeover = now + std::chrono::duration_cast<std::chrono::milliseconds>(cfg.lease / 2);
    }
    if (recovered) {
      const auto live = jobs.Live();
      for (const std::string& s : services) {
        auto it = live.find(s);
        const bool empty = (it == live.end() || it->second.queued == 0) && inflight[s] == 0;
        std::vector<std::string> streams = fleet::PullOrder(
            s, fleet::ClassesToRead(Bytes(capacity[s]), empty,
                                    [&](Bytes b) { return jobs.CouldAdmitNow(s, b.count()); }));
        if (!streams.empty()) plan.pulls.push_back(std::move(streams));
      }
    }
    if (plan.endings.empty() && !plan.recover && !plan.beat && plan.renew.empty() &&
        plan.takeover_streams.empty() && plan.pulls.empty()) {
      // Nothing to ask Redis: no answer either, so what we know of its reachability stands.
      cycle_busy = false;
      const bool now = kicked;
      kicked = false;
      return Arm(now ? std::chrono::milliseconds(0) : kCycle);
    }
    OnWorker([self = shared_from_this(), plan = std::move(plan)] {
      CycleResult r = self->RunCycle(plan);
      asio::post(self->io, [self, r = std::move(r)]() mutable { self->Apply(std::move(r)); });
    });
  }

  // ---- On the worker ----
  CycleResult RunCycle(const CyclePlan& plan) {
    CycleResult r;
    fleet::FleetStore& st = *store;
    auto failed = [&](const Error& e) {
      r.error = e;
      return e.code == ErrorCode::kUnavailable;  // Redis is gone: stop this cycle
    };
    // Whether stream s is worth reading: it has entries and its consumer group exists. nullopt:
    // Redis is gone, stop this cycle; false: skip this stream (empty, or another error noted).
    auto worth_reading = [&](const std::string& s) -> std::optional<bool> {
      auto len = st.Length(s);
      if (!len) return failed(len.error()) ? std::nullopt : std::optional<bool>(false);
      if (*len == 0) return false;
      if (auto g = Group(s); !g)
        return failed(g.error()) ? std::nullopt : std::optional<bool>(false);
      return true;
    };
    for (std::size_t i = 0; i < plan.endings.size(); ++i) {
      const Ending& end = plan.endings[i];
      // Still ours? A host that was paused past its lease finds its entry taken over: the host
      // that has it now writes the record and acknowledges, not this one.
      auto mine = st.Renew(end.stream, cfg.host, {end.entry});
      if (!mine && mine.error().code == ErrorCode::kUnavailable) {
        r.unacked.assign(plan.endings.begin() + static_cast<std::ptrdiff_t>(i), plan.endings.end());
        failed(mine.error());
        return r;
      }
      if (mine && mine->empty()) {
        r.lost_ends.push_back(end.job);
        continue;
      }
      auto put = PutRecord(end.job, end.record);
      auto ack = put ? st.Ack(end.stream, end.entry) : Result<void>(std::unexpected(put.error()));
      if (!ack && ack.error().code == ErrorCode::kUnavailable) {
        r.unacked.assign(plan.endings.begin() + static_cast<std::ptrdiff_t>(i), plan.endings.end());
        failed(ack.error());
        return r;
      }
    }
    auto decode_or_dead = [&](fleet::StreamEntry& e) -> std::optional<fleet::JobEntry> {
      auto j = fleet::DecodeEntry(e.fields);
      if (!j) {
        if (auto d = st.DeadLetter(e, "malformed entry: " + j.error().message); d) ++r.dead;
        return std::nullopt;
      }
      return *j;
    };
    if (plan.recover) {
      // Done unless Redis is unreachable (an early return): another error on one stream is not
      // worth holding every pull back for.
      for (const std::string& s : plan.recover_streams) {
        const std::optional<bool> worth = worth_reading(s);
        if (!worth) return r;
        if (!*worth) continue;
        auto own = st.ReadOwnPending(s, cfg.host, 64);
        if (!own) {
          if (failed(own.error())) return r;
          continue;
        }
        for (fleet::StreamEntry& e : *own)
          if (auto j = decode_or_dead(e)) r.run.push_back(ToRun{e, *j, "recovered"});
      }
      r.recovered = true;
    }
    if (plan.beat) {
      auto put = st.PutHash(fleet::HostKey(cfg.host),
                            {{"info", fleet::HostInfoJson(*plan.beat).dump()}}, plan.lease);
      if (!put && failed(put.error())) return r;
      auto hs = ReadHosts();
      if (!hs) {
        if (failed(hs.error())) return r;
      } else {
        r.hosts = std::move(*hs);
      }
    }
    for (const auto& [stream, ids] : plan.renew) {
      auto mine = st.Renew(stream, cfg.host, ids);
      if (!mine) {
        if (failed(mine.error())) return r;
        continue;
      }
      for (const std::string& id : ids)
        if (std::find(mine->begin(), mine->end(), id) == mine->end())
          r.lost.emplace_back(stream, id);
    }
    for (const std::string& s : plan.takeover_streams) {
      const std::optional<bool> worth = worth_reading(s);
      if (!worth) return r;
      if (!*worth) continue;
      auto got = st.TakeOver(s, cfg.host, plan.lease, kTakeOverBatch);
      if (!got) {
        if (failed(got.error())) return r;
        continue;
      }
      for (fleet::StreamEntry& e : *got) {
        auto j = decode_or_dead(e);
        if (!j) continue;
        if (e.previous_consumer == cfg.host) {
          // Our own entry, idle because Redis was away: the local record knows what became of it.
          r.run.push_back(ToRun{e, *j, "recovered"});
          continue;
        }
        fleet::TakeoverDecision d = fleet::DecideTakeover(e.deliveries, plan.max_deliveries,
                                                          j->idempotent, e.previous_consumer);
        switch (d.action) {
          case fleet::TakeoverAction::kRun:
            r.run.push_back(ToRun{e, *j, d.reason});
            break;
          case fleet::TakeoverAction::kHostLost:
            (void)PutRecord(j->job, {{"state", "failed"},
                                     {"reason", d.reason},
                                     {"host", e.previous_consumer},
                                     {"decided_by", cfg.host},
                                     {"updated_unix_ms", std::to_string(UnixNowMs())}});
            if (auto a = st.Ack(s, e.id); a) ++r.host_lost;
            break;
          case fleet::TakeoverAction::kDead:
            (void)PutRecord(j->job, {{"state", "dead"},
                                     {"reason", d.reason},
                                     {"updated_unix_ms", std::to_string(UnixNowMs())}});
            if (auto a = st.DeadLetter(e, d.reason); a) ++r.dead;
            break;
        }
      }
    }
    // One new entry per service per cycle, the first in its pull order (high band first,
    // largest class first): the ledger decides again next time. One round trip per service.
    for (const std::vector<std::string>& streams : plan.pulls) {
      auto got = st.ReadFirstNew(streams, cfg.host);
      if (!got) {
        if (failed(got.error())) return r;
        continue;
      }
      if (!*got) continue;
      if (auto j = decode_or_dead(**got)) r.run.push_back(ToRun{**got, *j, "new"});
    }
    return r;
  }

  // ---- Back on the io thread ----
  void Apply(CycleResult r) {
    cycle_busy = false;
    unacked.insert(unacked.end(), std::make_move_iterator(r.unacked.begin()),
                   std::make_move_iterator(r.unacked.end()));
    if (stopping) return;
    if (r.error && r.error->code == ErrorCode::kUnavailable) {
      if (connected || failures == 0) Log("Redis unreachable: " + r.error->message);
      connected = false;
      last_error = r.error->message;
      ++failures;
    } else {
      if (!connected && failures > 0) Log("Redis reachable again");
      connected = true;
      failures = 0;
      if (r.error) last_error = r.error->message;
    }
    for (const std::string& job : r.lost_ends)
      Log("fleet job " + job + " ended here after another host took it over (this host was " +
          "away past its lease): its record and acknowledgement are that host's");
    if (r.recovered) recovered = true;
    if (r.hosts) hosts = std::move(*r.hosts);
    host_lost += r.host_lost;
    dead += r.dead;
    for (const auto& [stream, id] : r.lost) {
      for (auto it = taken.begin(); it != taken.end(); ++it) {
        if (it->second.stream != stream || it->second.entry != id) continue;
        const std::int64_t local = it->first;
        Log("lost the lease of fleet job " + it->second.job + " (local job " +
            std::to_string(local) + "): another host has it now; cancelling it here");
        taken.erase(it);
        jobs.Cancel(std::to_string(local));
        break;
      }
    }
    for (ToRun& t : r.run) RunHere(std::move(t));
    Arm(failures > 0 ? fleet::ReconnectDelay(failures - 1)
        : kicked     ? std::chrono::milliseconds(0)
                     : kCycle);
    kicked = false;
  }

  void RunHere(ToRun t) {
    for (const auto& [id, held] : taken)
      if (held.stream == t.entry.stream && held.entry == t.entry.id) return;  // running here
    if (t.why == "new")
      ++pulled;
    else if (t.why != "recovered")
      ++taken_over;
    json body = {{"service", t.job.service},
                 {"params", t.job.params},
                 {"priority", t.job.priority},
                 {"idempotency_key", "fleet:" + t.job.job}};
    if (!t.job.payload.empty()) body["payload"] = json::parse(t.job.payload, nullptr, false);
    HttpRequest req;
    req.method = "POST";
    req.target = req.path = "/v1/jobs";
    req.headers["content-type"] = "application/json";
    req.body = body.dump();
    req.trusted_transport = true;
    const std::string service = t.job.service;
    ++inflight[service];
    auto answered = [self = shared_from_this(), t = std::move(t)](const HttpResponse& resp) {
      --self->inflight[t.job.service];
      self->OnLocalAnswer(t, resp);
    };
    HandlerResult hr = jobs.SubmitLocal(req);
    if (auto* resp = std::get_if<HttpResponse>(&hr)) {
      answered(*resp);
    } else if (auto* d = std::get_if<DeferredResponse>(&hr)) {
      d->start(std::move(answered));
    } else {
      answered(HttpResponse::Error(500, "unexpected streamed answer"));
    }
  }

  void OnLocalAnswer(const ToRun& t, const HttpResponse& resp) {
    json j = json::parse(resp.body, nullptr, false);
    const bool ok = (resp.status == 202 || resp.status == 200) && j.is_object() &&
                    j.contains("id") && j["id"].is_number_integer();
    if (ok) {
      const std::int64_t id = j["id"].get<std::int64_t>();
      const std::string state = j.value("state", "");
      if (resp.status == 200 && TerminalState(state)) {  // a recovered entry that ended here
        Finished(t.entry.stream, t.entry.id, t.job.job, id, state, j.value("reason", ""));
        return;
      }
      taken[id] = Taken{t.entry.stream, t.entry.id, t.job.job, t.job.idempotent};
      Log("fleet job " + t.job.job + " is local job " + std::to_string(id) + " (" + t.why + ")");
      Record(t.job.job, {{"state", "taken"},
                         {"service", t.job.service},
                         {"host", cfg.host},
                         {"local_id", std::to_string(id)},
                         {"why", t.why}});
      return;
    }
    // Sized larger here than by its submitter (each host's estimator learns on its own): move
    // it up to the class of this host's estimate, which this host does not read, once per class
    // at most (a class only grows), instead of giving it up.
    if (resp.status == 422 && j.is_object() && j.contains("estimate_bytes") &&
        j["estimate_bytes"].is_number_unsigned()) {
      const Bytes here(j["estimate_bytes"].get<std::uint64_t>());
      auto now_in = fleet::ParseStreamName(t.entry.stream);
      auto up = fleet::ClassFor(here);
      if (up && now_in && up->limit > now_in->size_class.limit) {
        fleet::JobEntry moved = t.job;
        moved.estimate = here;
        const std::string to = fleet::StreamName(t.job.service, *up, now_in->band);
        const std::string why = "sized " + FormatBytes(here) + " on " + cfg.host + ": moved from " +
                                t.entry.stream + " to " + to;
        Log("fleet job " + t.job.job + " " + why);
        ++rerouted;
        OnWorker([self = shared_from_this(), e = t.entry, moved, to, why] {
          if (!self->Group(to)) return;  // Redis away: the entry lapses and is read again
          if (!self->store->Add(to, fleet::EncodeEntry(moved))) return;
          (void)self->store->Ack(e.stream, e.id);
          (void)self->PutRecord(moved.job, {{"state", "queued"}, {"stream", to}, {"reason", why}});
        });
        return;
      }
    }
    // This host cannot take it after all (it validates it otherwise): give it up with the
    // reason rather than loop on it.
    std::string why =
        "refused on " + cfg.host + ": " + (j.is_object() ? j.value("error", resp.body) : resp.body);
    Log("fleet job " + t.job.job + " " + why);
    OnWorker([self = shared_from_this(), e = t.entry, job = t.job.job, why] {
      (void)self->store->DeadLetter(e, why);
      (void)self->PutRecord(job, {{"state", "refused"}, {"reason", why}, {"host", self->cfg.host}});
    });
    ++dead;
  }

  void Record(const std::string& job, fleet::Fields fields) {
    fields.emplace_back("updated_unix_ms", std::to_string(UnixNowMs()));
    OnWorker([self = shared_from_this(), job, fields = std::move(fields)] {
      (void)self->PutRecord(job, fields);
    });
  }

  void Finished(const std::string& stream, const std::string& entry, const std::string& job,
                std::int64_t local, const std::string& state, const std::string& reason) {
    // Written by the next cycle (within 100 ms), and again after it while Redis is away: an
    // acknowledgement lost here would leave the entry for a takeover.
    fleet::Fields record = {{"state", state},
                            {"host", cfg.host},
                            {"local_id", std::to_string(local)},
                            {"reason", reason},
                            {"updated_unix_ms", std::to_string(UnixNowMs())}};
    AddOutcome(local, record);
    unacked.push_back(Ending{stream, entry, job, std::move(record)});
  }

  // What the local job's record says of its run, for any host to answer `vramguard job ID`:
  // the estimate against the observed peak, when it ran, and its result when it is small
  // (fleet::kMaxRecordResult; a larger one stays here, `result_at` says where).
  void AddOutcome(std::int64_t local, fleet::Fields& record) {
    HttpResponse got = jobs.Get(std::to_string(local));
    if (got.status != 200) return;
    json j = json::parse(got.body, nullptr, false);
    if (!j.is_object()) return;
    for (const char* k : {"estimate_bytes", "observed_peak_bytes", "started_unix_ms",
                          "finished_unix_ms", "submitted_unix_ms", "gpu"})
      if (j.contains(k) && j[k].is_number_integer()) record.emplace_back(k, j[k].dump());
    if (j.contains("observation") && j["observation"].is_string())
      record.emplace_back("observation", j["observation"].get<std::string>());
    if (j.contains("result") && !j["result"].is_null()) {
      std::string text = j["result"].dump();
      if (text.size() <= fleet::kMaxRecordResult)
        record.emplace_back("result", std::move(text));
      else
        record.emplace_back("result_at", "host " + cfg.host + ": GET /v1/jobs/" +
                                             std::to_string(local) + "/result (" +
                                             std::to_string(text.size()) + " bytes)");
    }
  }

  // GET /v1/fleet/jobs/{id}: the job's record as Redis has it now.
  HandlerResult RecordOf(const std::string& job) {
    if (!fleet::ValidJobId(job))
      return HttpResponse::Error(
          400, "'" + job + "' is not a fleet job id",
          "fleet job ids are as submit printed them, e.g. gpu-a-1733250000000-1");
    return OnWorkerAnswer([job](Impl& self) -> HttpResponse {
      auto h = self.store->GetHash(fleet::JobKey(job));
      if (!h) return self.Unreachable(h.error());
      if (h->empty())
        return HttpResponse::Error(404, "no fleet job '" + job + "'",
                                   "a record expires 7 days after its last change");
      return HttpResponse::Json(200, fleet::JobRecordJson(job, *h));
    });
  }

  // GET /v1/fleet/jobs?limit=N: the records changed last, newest first (vg:recent).
  HandlerResult Recent(std::size_t limit) {
    return OnWorkerAnswer([limit](Impl& self) -> HttpResponse {
      auto ids = self.store->RecentJobs(limit);
      if (!ids) return self.Unreachable(ids.error());
      json list = json::array();
      for (const std::string& id : *ids) {
        auto h = self.store->GetHash(fleet::JobKey(id));
        if (!h) return self.Unreachable(h.error());
        if (!h->empty()) list.push_back(fleet::JobRecordJson(id, *h));  // expired: skipped
      }
      return HttpResponse::Json(200, {{"jobs", list}});
    });
  }

  HttpResponse Unreachable(const Error& e) const {
    return HttpResponse::Error(503,
                               "the fleet's Redis (" + cfg.redis + ") is unreachable: " + e.message,
                               "ask again once Redis is back (docs/fleet.md)");
  }

  // An answer computed on the worker (Redis calls), given on the io thread.
  HandlerResult OnWorkerAnswer(std::function<HttpResponse(Impl&)> work) {
    auto self = shared_from_this();
    return DeferredResponse{[self, work = std::move(work)](Responder respond) {
      self->OnWorker([self, work, respond = std::move(respond)]() mutable {
        HttpResponse out = work(*self);
        asio::post(self->io,
                   [respond = std::move(respond), out = std::move(out)] { respond(out); });
      });
    }};
  }

  void OnEvent(const EventRecord& e) {
    static const std::map<std::string, std::string> kEnds = {{"job-done", "done"},
                                                             {"job-failed", "failed"},
                                                             {"job-cancelled", "cancelled"},
                                                             {"job-refused", "refused"}};
    auto k = kEnds.find(e.kind);
    if (k == kEnds.end() || !e.data.is_object() || !e.data.contains("job") ||
        !e.data["job"].is_number_integer())
      return;
    auto it = taken.find(e.data["job"].get<std::int64_t>());
    if (it == taken.end()) return;
    Taken t = it->second;
    taken.erase(it);
    Finished(t.stream, t.entry, t.job, e.data["job"].get<std::int64_t>(), k->second, e.message);
  }

  // The largest job of `service` a host reads (fleet::ReadableLimit of its capacity) over
  // `registry` and this host as it is now, and that host's name.
  std::pair<std::optional<Bytes>, std::string> Largest(const std::vector<fleet::HostInfo>& registry,
                                                       const std::string& service) {
    std::vector<fleet::HostInfo> hs;
    for (const fleet::HostInfo& h : registry)
      if (h.host != cfg.host) hs.push_back(h);
    hs.push_back(SelfInfo());
    std::optional<Bytes> largest;
    std::string where = "none";
    for (const fleet::HostInfo& h : hs) {
      auto it = h.capacity.find(service);
      if (it == h.capacity.end()) continue;
      // What it reads, not what it could hold: a job between the two would wait for no one.
      const Bytes readable = fleet::ReadableLimit(it->second);
      if (!largest || readable > *largest) {
        largest = readable;
        where = h.host;
      }
    }
    return {largest, where};
  }

  HandlerResult Submit(const JobManager::FleetSubmission& s) {
    if (stopping)
      return HttpResponse::Error(503, "the daemon is shutting down: not accepting jobs");
    // Redis was unreachable at the last try: the submission tries again at once (the agent's
    // own retries back off up to 5 s; a user who just restarted Redis should not wait for them).
    auto cls = fleet::ClassFor(Bytes(s.estimate_bytes));
    fleet::JobEntry je;
    je.job = cfg.host + "-" + std::to_string(UnixNowMs()) + "-" + std::to_string(++seq);
    je.service = s.service;
    je.params = s.params;
    je.payload = s.payload;
    je.priority = s.priority;
    je.estimate = Bytes(s.estimate_bytes);
    je.idempotent = s.idempotent;
    je.idempotency_key = s.idempotency_key.value_or("");
    je.submitted_by = cfg.host;
    je.submitted_unix_ms = UnixNowMs();
    const std::string stream =
        cls ? fleet::StreamName(s.service, *cls, fleet::BandFor(s.priority)) : "";
    auto [largest, where] = Largest(hosts, s.service);
    const bool fits = cls && largest && *largest >= Bytes(s.estimate_bytes);
    auto self = shared_from_this();
    if (fits) {
      ++submitted;
      return DeferredResponse{[self, je, stream](Responder respond) {
        self->OnWorker([self, je, stream, respond = std::move(respond)]() mutable {
          HttpResponse out = self->Enqueue(je, stream);
          asio::post(self->io, [self, respond = std::move(respond), out = std::move(out)] {
            self->Enqueued(out);
            respond(out);
          });
        });
      }};
    }
    // Too big for every host this one knows of: read the registry again before refusing (a host
    // may have joined since the last heartbeat).
    return DeferredResponse{[self, s, je, stream](Responder respond) {
      self->OnWorker([self, s, je, stream, respond = std::move(respond)]() mutable {
        auto fresh = self->ReadHosts();
        asio::post(self->io, [self, s, je, stream, fresh = std::move(fresh),
                              respond = std::move(respond)]() mutable {
          if (!fresh) {
            respond(HttpResponse::Error(503,
                                        "the fleet's Redis (" + self->cfg.redis +
                                            ") is unreachable: " + fresh.error().message,
                                        "submit again once Redis is back (docs/fleet.md)"));
            return;
          }
          self->hosts = std::move(*fresh);
          auto [largest, where] = self->Largest(self->hosts, s.service);
          if (stream.empty() || !largest || *largest < Bytes(s.estimate_bytes)) {
            respond(self->jobs.RefuseForFleet(s, largest ? largest->count() : 0, where));
            return;
          }
          ++self->submitted;
          self->OnWorker([self, je, stream, respond = std::move(respond)]() mutable {
            HttpResponse out = self->Enqueue(je, stream);
            asio::post(self->io, [self, respond = std::move(respond), out = std::move(out)] {
              self->Enqueued(out);
              respond(out);
            });
          });
        });
      });
    }};
  }

  // A reload's [fleet]: the lease and max_deliveries apply from the next cycle; what names the
  // connection or this host (redis, host, user, password, connect_timeout) only at the next start
  // (the entries this host holds are the running connection's consumer's). "" or what waits.
  std::string Reconfigure(const FleetConfig& next) {
    std::vector<std::string> later;
    if (!next.enabled) later.emplace_back("[fleet] removed");
    if (next.enabled && next.redis != cfg.redis) later.emplace_back("redis");
    if (next.enabled && next.host != cfg.host) later.emplace_back("host");
    if (next.enabled && (next.user != cfg.user || next.password != cfg.password))
      later.emplace_back("user/password");
    if (next.enabled && next.connect_timeout != cfg.connect_timeout)
      later.emplace_back("connect_timeout");
    if (next.enabled && (next.lease != cfg.lease || next.max_deliveries != cfg.max_deliveries)) {
      cfg.lease = next.lease;
      cfg.max_deliveries = next.max_deliveries;
      // The lease's rhythm (heartbeat and renewals every lease/3, takeovers every lease/2)
      // restarts from now at the new length.
      next_beat = next_renew = next_takeover = SteadyTime{};
      Log("lease " + FormatSeconds(cfg.lease) + ", max_deliveries " +
          std::to_string(cfg.max_deliveries) + " from now (reload)");
    }
    if (later.empty()) return "";
    std::string what;
    for (const std::string& w : later) what += (what.empty() ? "" : ", ") + w;
    const std::string note = "[fleet] " + what +
                             " changed: takes effect when the daemon restarts (this host keeps "
                             "its Redis connection and name until then)";
    Log(note);
    return note;
  }

  // On the io thread, after a submission's Enqueue: Redis took it (so it is reachable again,
  // whatever the backoff said) or not; either way a cycle now.
  void Enqueued(const HttpResponse& out) {
    if (out.status < 300 && !connected && failures > 0) {
      Log("Redis reachable again (a submission got through)");
      connected = true;
      failures = 0;
    }
    Kick();
  }

  // On the worker: the registry (vg:host:*) as Redis has it now.
  Result<std::vector<fleet::HostInfo>> ReadHosts() {
    auto keys = store->Keys("vg:host:*", fleet::kMaxHosts);
    if (!keys) return std::unexpected(keys.error());
    std::vector<fleet::HostInfo> hs;
    for (const std::string& k : *keys) {
      auto h = store->GetHash(k);
      if (!h) return std::unexpected(h.error());
      if (auto info = fleet::ParseHostInfo(fleet::FieldOf(*h, "info"))) hs.push_back(*info);
    }
    return hs;
  }

  // On the worker: the fleet-wide idempotency key, then the entry and its record.
  HttpResponse Enqueue(const fleet::JobEntry& je, const std::string& stream) {
    fleet::FleetStore& st = *store;
    auto unavailable = [&](const Error& e) {
      return HttpResponse::Error(
          503, "the fleet's Redis (" + cfg.redis + ") is unreachable: " + e.message,
          "jobs already here keep running; submit again (docs/fleet.md)");
    };
    const std::string key = je.idempotency_key.empty() ? "" : fleet::IdemKey(je.idempotency_key);
    const std::string mine = fleet::IdemValue(je.job, UnixNowMs());
    if (!key.empty()) {
      auto k = st.ClaimKey(key, mine, kIdemTtl);
      if (!k) return unavailable(k.error());
      if (k->has_value()) {
        const fleet::IdemHolder holder = fleet::ParseIdemValue(**k);
        auto record = st.GetHash(fleet::JobKey(holder.job));
        if (!record) return unavailable(record.error());
        if (!fleet::StaleIdemClaim(holder, !record->empty(), UnixNowMs()))
          return HttpResponse::Json(200, {{"fleet_job", holder.job}, {"duplicate", true}});
        // Its holder's submission never queued a job: this one takes the key over.
        auto swapped = st.SwapKey(key, **k, mine, kIdemTtl);
        if (!swapped) return unavailable(swapped.error());
        if (!*swapped)
          return HttpResponse::Error(409, "the idempotency key changed hands just now",
                                     "submit again: the answer names the job that holds it");
      }
    }
    // Not queued after all: the key is given back (best effort; a key left holding a job that
    // was never queued is taken over by the next submission after fleet::kIdemGraceMs).
    auto give_back = [&] {
      if (!key.empty()) (void)st.SwapKey(key, mine, "", Millis(0));
    };
    if (auto g = Group(stream); !g) {
      give_back();
      return unavailable(g.error());
    }
    auto id = st.Add(stream, fleet::EncodeEntry(je));
    if (!id) {
      give_back();
      return unavailable(id.error());
    }
    (void)PutRecord(je.job, {{"state", "queued"},
                             {"service", je.service},
                             {"stream", stream},
                             {"entry", *id},
                             {"submitted_by", je.submitted_by},
                             {"updated_unix_ms", std::to_string(UnixNowMs())}});
    return HttpResponse::Json(202, {{"fleet_job", je.job},
                                    {"state", "queued"},
                                    {"stream", stream},
                                    {"entry", *id},
                                    {"service", je.service},
                                    {"estimate_bytes", je.estimate.count()}});
  }
};

FleetAgent::FleetAgent(asio::io_context& io, const FleetConfig& config, JobManager& jobs,
                       EventHub& events, std::unique_ptr<fleet::FleetStore> store)
    : impl_(std::make_shared<Impl>(io, config, jobs, events, std::move(store))) {
  impl_->timer = std::make_unique<asio::steady_timer>(io);
}

FleetAgent::~FleetAgent() {
  Stop();
  {
    std::lock_guard lock(impl_->mu);
    impl_->quit = true;
  }
  impl_->cv.notify_one();
  if (impl_->worker.joinable()) impl_->worker.join();
}

void FleetAgent::Start() {
  Impl* im = impl_.get();
  im->worker = std::thread([im] { im->Work(); });
  std::weak_ptr<Impl> weak = impl_;
  im->subscription = im->events.Subscribe([weak](const EventRecord& e) {
    if (auto self = weak.lock()) self->OnEvent(e);
  });
  im->jobs.SetFleetSubmit([weak](const JobManager::FleetSubmission& s) -> HandlerResult {
    auto self = weak.lock();
    if (!self) return HttpResponse::Error(503, "the fleet agent has stopped");
    return self->Submit(s);
  });
  im->Log("host " + im->cfg.host + " of the fleet on " + im->cfg.redis + " (lease " +
          FormatSeconds(im->cfg.lease) + ")");
  im->Cycle();
}

void FleetAgent::Stop() {
  if (impl_->stopping) return;
  impl_->stopping = true;
  if (impl_->timer) impl_->timer->cancel();
  if (impl_->subscription) impl_->events.Unsubscribe(impl_->subscription);
  impl_->subscription = 0;
}

FleetAgent::Figures FleetAgent::Counts() const {
  const Impl& m = *impl_;
  return Figures{m.connected,
                 static_cast<std::int64_t>(m.hosts.size()),
                 static_cast<std::int64_t>(m.taken.size()),
                 static_cast<std::int64_t>(m.unacked.size()),
                 m.pulled,
                 m.taken_over,
                 m.host_lost,
                 m.dead,
                 m.rerouted,
                 m.submitted};
}

std::string FleetAgent::Reconfigure(const FleetConfig& next) { return impl_->Reconfigure(next); }

HandlerResult FleetAgent::Job(const std::string& fleet_job) { return impl_->RecordOf(fleet_job); }

HandlerResult FleetAgent::RecentJobs(std::size_t limit) { return impl_->Recent(limit); }

nlohmann::json FleetAgent::Status() const {
  const Impl& m = *impl_;
  json taken = json::array();
  for (const auto& [id, t] : m.taken)
    taken.push_back({{"local_id", id},
                     {"fleet_job", t.job},
                     {"stream", t.stream},
                     {"entry", t.entry},
                     {"idempotent", t.idempotent}});
  json hosts = json::array();
  for (const fleet::HostInfo& h : m.hosts) hosts.push_back(fleet::HostInfoJson(h));
  return {{"host", m.cfg.host},
          {"redis", m.cfg.redis},
          {"connected", m.connected},
          {"last_error", m.last_error},
          {"lease_s", m.cfg.lease.count() / 1000.0},
          {"taken", taken},
          {"hosts", hosts},
          {"counts",
           {{"pulled", m.pulled},
            {"taken_over", m.taken_over},
            {"host_lost", m.host_lost},
            {"dead", m.dead},
            {"rerouted", m.rerouted},
            {"submitted", m.submitted}}}};
}

}  // namespace vg
