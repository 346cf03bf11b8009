#include "daemon/door.h"

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

#include "core/comfy_prompt.h"
#include "core/gradio_events.h"
#include "core/gradio_ws.h"
#include "daemon/event_hub.h"
#include "daemon/http_probe.h"
#include "daemon/service_port.h"
#include "util/units.h"

namespace vg {

namespace asio = boost::asio;

namespace {

// How long a client is told to wait before trying again.
constexpr int kRetryAfterFailedS = 60;
constexpr int kRetryAfterTimeoutS = 30;
// Starts the door asks for while one set of requests waits: the second covers a stop that
// overtook the first start (an idle unload that was already under way); a third would be a loop.
constexpr int kMaxStartsPerWait = 2;
// The request target as events show it (a client chooses it: bounded).
constexpr std::size_t kMaxTargetInEvent = 200;
// Gradio queue jobs (DoorEnds::kGradioQueue): how many events the door follows at once; how many
// completions it remembers that came before their join's answer was seen.
constexpr std::size_t kMaxGradioAwaiting = 10'000;
constexpr std::size_t kGradioRecentCompleted = 256;
// ComfyUI prompts (DoorEnds::kComfyHistory): how often the door asks /history, every how many
// asks it also looks at /queue, how many asks without an answer end the job, how many prompts it
// follows at once, and what one ask may take.
constexpr int kComfyQueueEvery = 8;
constexpr int kComfyMaxFailures = 20;  // 5 s
constexpr std::size_t kMaxComfyPrompts = 1000;
constexpr Millis kComfyAskTimeout{2000};
constexpr std::size_t kComfyAnswerBytes = std::size_t{1} << 20;

std::string_view TargetPath(std::string_view target) { return target.substr(0, target.find('?')); }

HttpResponse Unavailable(int retry_after_s, std::string error, std::string hint) {
  HttpResponse r = HttpResponse::Error(503, std::move(error), std::move(hint));
  r.headers["Retry-After"] = std::to_string(retry_after_s);
  return r;
}

// What the API's answer to a door job says, for the client in its protocol: the message, the
// hint, and the numbers worth passing on.
struct JobAnswerWords {
  std::string message;
  std::string hint;
  nlohmann::json extra = nlohmann::json::object();
};

JobAnswerWords ReadJobAnswer(const HttpResponse& api) {
  const nlohmann::json body = nlohmann::json::parse(api.body, nullptr, false);
  JobAnswerWords w{.message = "HTTP " + std::to_string(api.status), .hint = {}};
  if (body.is_object()) {
    if (body.contains("error") && body["error"].is_string()) w.message = body["error"];
    if (body.contains("hint") && body["hint"].is_string()) w.hint = body["hint"];
    for (const char* key : {"estimate_bytes", "capacity_bytes", "suggestions", "parameter", "id"})
      if (body.contains(key)) w.extra[key == std::string("id") ? "job" : key] = body[key];
  }
  return w;
}

HttpResponse FromJobAnswer(DoorProtocol protocol, const HttpResponse& api) {
  const JobAnswerWords w = ReadJobAnswer(api);
  return DoorAnswer(protocol, api.status, w.message, w.hint, w.extra, kRetryAfterFailedS);
}

}  // namespace

HttpResponse DoorAnswer(DoorProtocol protocol, int status, const std::string& message,
                        const std::string& hint, const nlohmann::json& extra, int retry_after_s) {
  nlohmann::json body;
  int code = status;
  switch (protocol) {
    case DoorProtocol::kOpenAi: {
      // OpenAI's error object; a request too large for the card is the client's to change, like
      // a prompt over the context length (400).
      const bool client_side = status >= 400 && status < 500;
      if (status == 422) code = 400;
      body = {{"error",
               {{"message", hint.empty() ? message : message + " (" + hint + ")"},
                {"type", client_side ? "invalid_request_error" : "server_error"},
                {"param", extra.contains("parameter") ? extra["parameter"] : nlohmann::json()},
                {"code", status == 422 ? "insufficient_vram"
                         : client_side ? "invalid_request"
                                       : "service_unavailable"}}}};
      if (!extra.empty()) body["vramguard"] = extra;
      break;
    }
    case DoorProtocol::kGradio:
      // FastAPI's {"detail"} beside the generic fields: what a Gradio client reads from an
      // error answer.
      body = {{"error", message}, {"detail", hint.empty() ? message : message + " (" + hint + ")"}};
      for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
      break;
    case DoorProtocol::kGeneric:
      body = {{"error", message}};
      if (!hint.empty()) body["hint"] = hint;
      for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
      break;
  }
  HttpResponse r = HttpResponse::Json(code, body);
  if (code >= 500) r.headers["Retry-After"] = std::to_string(retry_after_s);
  return r;
}

class GradioWsDoorTap;

struct DoorPolicy::State : std::enable_shared_from_this<DoorPolicy::State> {
  struct Held {
    ProxyRelease release;
    std::chrono::steady_clock::time_point deadline;
    bool upgrade = false;
  };

  // A request submitted as a job (a route that is a job).
  struct Job {
    ProxyRelease release;
    DoorProtocol protocol = DoorProtocol::kGeneric;
    std::int64_t id = 0;        // the job's, once known (the 202, or the forward)
    std::int64_t position = 0;  // in the queue at submission; 0: it went at once
    std::chrono::steady_clock::time_point held_at;
    std::int64_t queued_ms = 0;  // held for this long before it went
    bool forwarded = false;
    bool answered = false;   // the door answered it (refused, or its job ended first)
    bool submitted = false;  // the queue's answer to the submission came
    bool ended = false;      // the request ended (OnRequestEnd) before that answer
    DoorEnds ends = DoorEnds::kAnswer;
    std::string session;      // Gradio: the join's session_hash
    std::string answer_body;  // Gradio, ComfyUI: the answer's first kGradioLinePrefix bytes
    std::string path;         // the request's path (ComfyUI: where /history is beside it)
  };
  // A ComfyUI prompt whose job ends when the service's history has it.
  struct Prompt {
    std::int64_t job = 0;
    std::string history_path;
    std::string queue_path;
    bool asking = false;  // a request about it is out
    int asks = 0;
    int failures = 0;  // asks in a row without an answer
    int absent = 0;    // /queue answers in a row without it, while the history had nothing
  };
  // A Gradio event whose job ends with its process_completed.
  struct Awaiting {
    std::int64_t job = 0;
    std::string session;
    // Since when no event stream of its session is open (epoch: one is open).
    std::chrono::steady_clock::time_point orphan_since{};
  };

  State(asio::io_context& io_, ServicePort& port_, EventHub& events_, std::string service_,
        const ProxySpec& spec_, DoorJobs* jobs_, std::size_t route_body_limit_)
      : io(io_),
        port(port_),
        events(events_),
        service(std::move(service_)),
        spec(spec_),
        jobs(jobs_),
        route_body_limit(route_body_limit_),
        timer(io_),
        end_timer(io_),
        poll_timer(io_) {}

  asio::io_context& io;
  ServicePort& port;
  EventHub& events;
  std::string service;
  ProxySpec spec;
  DoorJobs* jobs;
  std::size_t route_body_limit;
  std::map<std::uint64_t, Job> door_jobs;  // by request id
  asio::steady_timer timer;
  std::map<std::uint64_t, Held> held;
  std::set<std::uint64_t> counted;
  int subscription = 0;
  int starts_this_wait = 0;
  bool start_pending = false;  // asked for, and the service has not left stopped/failed since
  std::uint64_t starts = 0;
  bool timer_armed = false;
  bool closed = false;  // Close(): the port and the hub may be gone
  // Gradio queue jobs: by event id; open /queue/data streams by session; completions seen
  // before their join's answer (bounded, oldest first).
  std::map<std::string, Awaiting> awaiting;
  std::map<std::string, int> streams;
  std::deque<std::string> recent_completed;
  asio::steady_timer end_timer;
  bool end_timer_armed = false;
  // ComfyUI prompts: by prompt id.
  std::map<std::string, Prompt> prompts;
  asio::steady_timer poll_timer;
  bool poll_timer_armed = false;
  DoorPolicy::UpstreamGet upstream_get;
  // Gradio 3 WebSocket events (ends = "gradio-ws"): the taps of the tunnels open now.
  std::vector<std::weak_ptr<GradioWsDoorTap>> ws_taps;

  // GET `path` on the service itself (ComfyUI's /history, /queue).
  void AskUpstream(const std::string& path, DoorPolicy::UpstreamAnswer answer) {
    if (upstream_get) return upstream_get(path, std::move(answer));
    const std::string url = "http://127.0.0.1:" + std::to_string(spec.upstream_port) + path;
    asio::co_spawn(io,
                   HttpExchangeOnce(io, "GET", url, kComfyAskTimeout, "", "", kComfyAnswerBytes),
                   [answer = std::move(answer)](const std::exception_ptr& e, HttpExchange x) {
                     if (e) return answer(0, "", false);
                     answer(x.status, std::move(x.body), x.capped);
                   });
  }

  // The prompt's answer ended: follow its prompt id, or end the job now.
  void FollowPrompt(Job& j, const ProxyRequestEnd& end) {
    std::optional<std::string> id = end.status == 200 ? ComfyPromptId(j.answer_body) : std::nullopt;
    if (!id || prompts.size() >= kMaxComfyPrompts || prompts.count(*id) > 0) {
      jobs->Ended(j.id, end.status, end.error);
      return;
    }
    prompts[*id] = Prompt{.job = j.id,
                          .history_path = ComfyHistoryPath(j.path, *id),
                          .queue_path = ComfyQueuePath(j.path)};
    ArmPoll();
  }

  void ArmPoll() {
    if (poll_timer_armed || closed || prompts.empty()) return;
    ArmAt(poll_timer, &State::poll_timer_armed, std::chrono::steady_clock::now() + spec.comfy_poll,
          &State::Poll);
  }

  void EndPrompt(const std::string& id, int status, const std::string& why) {
    auto it = prompts.find(id);
    if (it == prompts.end()) return;
    const std::int64_t job = it->second.job;
    prompts.erase(it);
    jobs->Ended(job, status, why);
  }

  // Asks /history about every prompt that has no question out (and /queue now and then).
  void Poll() {
    std::weak_ptr<State> weak = weak_from_this();
    std::vector<std::string> ask;  // an answer may come at once and end a prompt: no iterating
    for (auto& [id, p] : prompts)
      if (!p.asking) ask.push_back(id);
    for (const std::string& id : ask) {
      auto it = prompts.find(id);
      if (closed || it == prompts.end()) continue;
      Prompt& p = it->second;
      p.asking = true;
      ++p.asks;
      const bool look_at_queue = p.asks % kComfyQueueEvery == 0;
      AskUpstream(p.history_path,
                  [weak, id, look_at_queue](int status, const std::string& body, bool capped) {
                    if (auto self = weak.lock(); self && !self->closed)
                      self->Heard(id, status, body, capped, look_at_queue);
                  });
    }
    ArmPoll();
  }

  void Heard(const std::string& id, int status, const std::string& body, bool capped,
             bool look_at_queue) {
    auto it = prompts.find(id);
    if (it == prompts.end()) return;
    Prompt& p = it->second;
    if (status != 200) {
      p.asking = false;
      if (++p.failures >= kComfyMaxFailures)
        EndPrompt(id, 0,
                  "the service did not answer GET " + p.history_path + " for " +
                      FormatSeconds(spec.comfy_poll * kComfyMaxFailures) +
                      (status ? " (HTTP " + std::to_string(status) + ")" : std::string()));
      return;
    }
    p.failures = 0;
    switch (ReadComfyHistory(body, id, capped)) {
      case ComfyPromptState::kSucceeded:
        return EndPrompt(id, 200, "");
      case ComfyPromptState::kFailed:
        return EndPrompt(id, 500, "ComfyUI's history says the prompt ended in an error");
      case ComfyPromptState::kPending:
        break;
    }
    if (!look_at_queue) {
      p.asking = false;
      return;
    }
    // Not in the history: still queued or running, or deleted from the queue before it ran.
    std::weak_ptr<State> weak = weak_from_this();
    AskUpstream(p.queue_path, [weak, id](int status, const std::string& body, bool) {
      auto self = weak.lock();
      if (!self || self->closed) return;
      auto it = self->prompts.find(id);
      if (it == self->prompts.end()) return;
      Prompt& p = it->second;
      p.asking = false;
      if (status != 200) return;  // counted by the history's asks
      if (ComfyQueueHolds(body, id)) {
        p.absent = 0;
      } else if (++p.absent >= 2) {  // twice: not a prompt that ended between the two asks
        self->EndPrompt(id, 0,
                        "the prompt is in neither ComfyUI's queue nor its history "
                        "(deleted from the queue before it ran)");
      }
    });
  }

  bool FollowsGradio() const {
    return std::any_of(spec.routes.begin(), spec.routes.end(),
                       [](const DoorRoute& r) { return r.ends == DoorEnds::kGradioQueue; });
  }

  // The join's answer ended: follow its event, or end the job now.
  void FollowEvent(Job& j, const ProxyRequestEnd& end) {
    std::optional<std::string> event =
        end.status == 200 ? GradioJoinEventId(j.answer_body) : std::nullopt;
    if (!event || awaiting.size() >= kMaxGradioAwaiting) {
      jobs->Ended(j.id, end.status, end.error);
      return;
    }
    if (std::find(recent_completed.begin(), recent_completed.end(), *event) !=
        recent_completed.end()) {
      jobs->Ended(j.id, 200, "");  // it finished before its answer was seen
      return;
    }
    Awaiting a{.job = j.id, .session = j.session, .orphan_since = {}};
    if (streams[j.session] == 0) a.orphan_since = std::chrono::steady_clock::now();
    if (streams[j.session] == 0) streams.erase(j.session);
    awaiting[*event] = std::move(a);
    ArmEndTimer();
  }

  void Completed(const std::string& event, bool success) {
    auto it = awaiting.find(event);
    if (it == awaiting.end()) {
      if (event.empty()) return;
      recent_completed.push_back(event);
      if (recent_completed.size() > kGradioRecentCompleted) recent_completed.pop_front();
      return;
    }
    const std::int64_t job = it->second.job;
    awaiting.erase(it);
    jobs->Ended(job, success ? 200 : 500, "");
  }

  void StreamOpened(const std::string& session) {
    ++streams[session];
    for (auto& [event, a] : awaiting) {
      if (a.session == session) a.orphan_since = {};
    }
  }

  void StreamEnded(const std::string& session) {
    auto it = streams.find(session);
    if (it == streams.end() || --it->second > 0) return;
    streams.erase(it);
    const auto now = std::chrono::steady_clock::now();
    for (auto& [event, a] : awaiting) {
      if (a.session == session) a.orphan_since = now;
    }
    ArmEndTimer();
  }

  void ArmEndTimer() {
    if (end_timer_armed || closed) return;
    std::optional<std::chrono::steady_clock::time_point> first;
    for (const auto& [event, a] : awaiting) {
      if (a.orphan_since == std::chrono::steady_clock::time_point{}) continue;
      if (!first || a.orphan_since < *first) first = a.orphan_since;
    }
    if (!first) return;
    ArmAt(end_timer, &State::end_timer_armed, *first + spec.gradio_stream_grace,
          &State::EndOrphans);
  }

  // Events no stream of their session has shown for gradio_stream_grace: the browser left, or
  // the service no longer reports them; the door stops counting them as work.
  void EndOrphans() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = awaiting.begin(); it != awaiting.end();) {
      const auto since = it->second.orphan_since;
      if (since != std::chrono::steady_clock::time_point{} &&
          since + spec.gradio_stream_grace <= now) {
        const std::int64_t job = it->second.job;
        it = awaiting.erase(it);
        jobs->Ended(job, 0,
                    "no Gradio event stream of its session followed the event for " +
                        FormatSeconds(spec.gradio_stream_grace));
      } else {
        ++it;
      }
    }
    ArmEndTimer();
  }

  std::optional<ServicePort::View> Look() const { return port.Look(service); }

  // Forwards a request now, counting it as work unless it is an upgrade. False: the service is
  // not running (BeginJob refused), so it cannot go yet.
  bool Admit(std::uint64_t id, bool upgrade) {
    if (upgrade) {
      const auto v = Look();
      return v && v->state == ServicePort::State::kRunning;
    }
    if (!port.BeginJob(service)) return false;
    counted.insert(id);
    return true;
  }

  void AnswerAll(const HttpResponse& response) {
    // release() never resumes a request inside the call, so held can be cleared first.
    std::map<std::uint64_t, Held> answered;
    answered.swap(held);
    starts_this_wait = 0;
    start_pending = false;
    for (auto& [id, h] : answered) h.release(response);
  }

  void AskStart(const std::string& client, const std::string& target) {
    if (starts_this_wait >= kMaxStartsPerWait) {
      const auto v = Look();
      AnswerAll(Unavailable(kRetryAfterFailedS,
                            service + " did not stay up for the requests waiting on it" +
                                (v && !v->detail.empty() ? ": " + v->detail : std::string()),
                            "see `vramguard events --service " + service + "`"));
      return;
    }
    ++starts_this_wait;
    ++starts;
    start_pending = true;
    std::string shown =
        target.size() > kMaxTargetInEvent ? target.substr(0, kMaxTargetInEvent) + "…" : target;
    events.Emit(service, "", "start-on-demand",
                "a request through the proxy starts " + service +
                    " (held until it is ready, at most " + FormatSeconds(spec.hold_timeout) + ")",
                {{"client", client}, {"target", shown}, {"held", held.size()}});
    if (auto r = port.Start(service); !r) {
      start_pending = false;
      AnswerAll(Unavailable(
          kRetryAfterFailedS, service + " could not be started: " + r.error().message,
          r.error().hint.empty() ? "see `vramguard status " + service + "`" : r.error().hint));
    }
  }

  // Moves the held requests on by the service's state now.
  void Settle(const std::string& client = {}, const std::string& target = {}) {
    if (closed || held.empty()) return;
    const auto v = Look();
    if (!v) {
      AnswerAll(Unavailable(kRetryAfterFailedS, service + " is no longer configured",
                            "the daemon's config was reloaded without it"));
      return;
    }
    switch (v->state) {
      case ServicePort::State::kRunning: {
        std::vector<std::uint64_t> go;
        for (auto& [id, h] : held) {
          if (Admit(id, h.upgrade)) go.push_back(id);
        }
        for (std::uint64_t id : go) {
          auto node = held.extract(id);
          node.mapped().release(std::nullopt);
        }
        start_pending = false;
        if (held.empty()) starts_this_wait = 0;
        return;
      }
      case ServicePort::State::kStopped:
        // A start asked for and not begun yet (the supervisor runs it on a later turn): wait.
        if (!start_pending) AskStart(client, target);
        return;
      case ServicePort::State::kFailed:
        if (start_pending) return;
        if (starts_this_wait == 0) {
          AskStart(client, target);  // failed before anyone asked: one more try for this request
        } else {
          AnswerAll(Unavailable(kRetryAfterFailedS, service + " failed to start: " + v->detail,
                                "see `vramguard events --service " + service + "`"));
        }
        return;
      default:
        // Starting, waiting for VRAM, stopping, backing off: the start (if one was asked for)
        // has begun; its next event says more.
        start_pending = false;
        return;
    }
  }

  // Submits a request as a job; the queue decides when it goes (Forward) or why it ends (Fail).
  ProxyVerdict HoldAsJob(const ProxyRequestHead& head, const DoorRoute& route,
                         nlohmann::json params, ProxyRelease release) {
    const std::uint64_t rid = head.id;
    Job job{.release = std::move(release),
            .protocol = route.protocol,
            .held_at = std::chrono::steady_clock::now()};
    job.ends = route.ends;
    job.path = std::string(TargetPath(head.target));
    if (route.ends == DoorEnds::kGradioQueue) {
      const nlohmann::json body = nlohmann::json::parse(head.body, nullptr, false);
      if (body.is_object() && body.contains("session_hash") && body["session_hash"].is_string())
        job.session = body["session_hash"].get<std::string>();
    }
    door_jobs.emplace(rid, std::move(job));
    std::weak_ptr<State> weak = weak_from_this();
    auto ticket = std::make_shared<JobManager::DoorTicket>();
    ticket->forward = [weak, rid](std::int64_t job) {
      if (auto self = weak.lock()) self->Forward(rid, job);
    };
    ticket->fail = [weak, rid](int status, const std::string& why) {
      if (auto self = weak.lock()) self->Fail(rid, status, why);
    };
    jobs->Submit(service, std::move(params), std::move(ticket),
                 [weak, rid](const HttpResponse& answer) {
                   if (auto self = weak.lock()) self->Submitted(rid, answer);
                 });
    return ProxyVerdict::Hold();
  }

  void Forward(std::uint64_t rid, std::int64_t job) {
    auto it = door_jobs.find(rid);
    if (closed || it == door_jobs.end() || it->second.forwarded || it->second.answered) return;
    Job& j = it->second;
    j.id = job;
    j.forwarded = true;
    j.queued_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - j.held_at)
                      .count();
    j.release(std::nullopt);
  }

  void Fail(std::uint64_t rid, int status, const std::string& why) {
    auto it = door_jobs.find(rid);
    if (closed || it == door_jobs.end() || it->second.forwarded || it->second.answered) return;
    it->second.answered = true;
    it->second.release(DoorAnswer(it->second.protocol, status, why,
                                  "see `vramguard events --service " + service + "`",
                                  {{"job", it->second.id}}, kRetryAfterFailedS));
  }

  void Submitted(std::uint64_t rid, const HttpResponse& answer) {
    auto it = door_jobs.find(rid);
    if (closed || it == door_jobs.end()) return;
    Job& j = it->second;
    j.submitted = true;
    if (answer.status != 202) {  // refused, invalid, or the queue cannot take it
      j.answered = true;
      if (!j.ended) j.release(FromJobAnswer(j.protocol, answer));
      if (j.ended) door_jobs.erase(it);
      return;
    }
    const nlohmann::json body = nlohmann::json::parse(answer.body, nullptr, false);
    if (body.is_object() && body.contains("id") && body["id"].is_number_integer())
      j.id = body["id"].get<std::int64_t>();
    if (body.is_object() && body.contains("position") && body["position"].is_number_integer())
      j.position = body["position"].get<std::int64_t>();
    if (j.ended) {  // the client left while the submission was being stored
      if (j.id != 0) jobs->Gone(j.id);
      door_jobs.erase(it);
    }
  }

  void ArmTimer() {
    if (held.empty() || timer_armed) return;
    auto first = std::min_element(held.begin(), held.end(), [](const auto& a, const auto& b) {
      return a.second.deadline < b.second.deadline;
    });
    ArmAt(timer, &State::timer_armed, first->second.deadline, &State::Expire);
  }

  // Runs `fire` at `when` on `t`, with `*armed` set while it waits; nothing once the state is
  // gone or closed.
  void ArmAt(asio::steady_timer& t, bool State::*armed, std::chrono::steady_clock::time_point when,
             void (State::*fire)()) {
    this->*armed = true;
    t.expires_at(when);
    t.async_wait([weak = weak_from_this(), armed, fire](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self) return;
      (*self).*armed = false;
      if (ec || self->closed) return;
      ((*self).*fire)();
    });
  }

  void Expire() {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> late;
    for (auto& [id, h] : held) {
      if (h.deadline <= now) late.push_back(id);
    }
    const auto v = Look();
    const std::string state = v ? ServiceStateName(v->state) : "gone";
    for (std::uint64_t id : late) {
      auto node = held.extract(id);
      node.mapped().release(Unavailable(
          kRetryAfterTimeoutS,
          service + " was not ready within " + FormatSeconds(spec.hold_timeout) + " (it is " +
              state + (v && !v->detail.empty() ? ": " + v->detail : std::string()) + ")",
          "try again shortly; `vramguard status " + service + "` shows what it waits for"));
    }
    if (held.empty()) starts_this_wait = 0;
    ArmTimer();
  }
};

// One Gradio 3 queue WebSocket (ends = "gradio-ws") as the door follows it: the data message is
// held (core/gradio_ws.h) and submitted as a job; admitted → released to the service, queued →
// the door's position shown as Gradio's `estimation`, refused or waiting past gradio_ws_hold →
// a process_completed with the reason (Gradio shows it) and the WebSocket closed, so the service
// drops the event. The job ends at the service's process_completed or when the tunnel closes.
class GradioWsDoorTap final : public ProxyTunnelTap,
                              public std::enable_shared_from_this<GradioWsDoorTap> {
 public:
  GradioWsDoorTap(std::weak_ptr<DoorPolicy::State> door, DoorRoute route, std::size_t limit)
      : door_(std::move(door)), route_(std::move(route)), follower_(limit) {}

  void Start(ProxyTunnelControl control) override { control_ = std::move(control); }

  std::string FromClient(std::string_view bytes) override {
    GradioWsFollower::Up up = follower_.FromClient(bytes);
    if (up.error) {
      Refuse(*up.error + ", so the door cannot size its job", "");
    } else if (up.data) {
      OnData(*up.data);
    }
    return std::move(up.forward);
  }

  std::string FromService(std::string_view bytes) override {
    GradioWsFollower::Down down = follower_.FromService(bytes);
    if (down.completed) Completed(*down.completed);
    return std::move(down.forward);
  }

  void Closed() override {
    if (timer_) timer_->cancel();
    End(0, "the WebSocket closed before Gradio's process_completed");
  }

  // The door closes (`jobs` is still there): the job ends now, nothing more is sent.
  void Detach(DoorJobs* jobs) {
    if (timer_) timer_->cancel();
    EndIn(jobs, 0, "the proxy stopped while it ran");
    door_.reset();
  }

  bool following() const { return stage_ != Stage::kNone && stage_ != Stage::kEnded; }

 private:
  enum class Stage { kNone, kSubmitting, kQueued, kRunning, kEnded };

  std::shared_ptr<DoorPolicy::State> Door() const {
    auto door = door_.lock();
    return door && !door->closed && door->jobs != nullptr ? door : nullptr;
  }

  void OnData(const std::string& text) {
    auto door = Door();
    if (!door) return Refuse("the daemon is stopping", "try again once it is back");
    Result<DoorExtract> x = ExtractDoorParams(route_, text);
    if (!x) return Refuse(x.error().message, x.error().hint);
    if (!x->is_job) {  // another function of the app: not a job of this route
      control_.send(follower_.Release(), "");
      return;
    }
    stage_ = Stage::kSubmitting;
    std::weak_ptr<GradioWsDoorTap> weak = weak_from_this();
    auto ticket = std::make_shared<JobManager::DoorTicket>();
    ticket->forward = [weak](std::int64_t job) {
      if (auto self = weak.lock()) self->Forward(job);
    };
    ticket->fail = [weak](int /*status*/, const std::string& why) {
      if (auto self = weak.lock()) self->Refuse(why, "");
    };
    timer_ = std::make_unique<asio::steady_timer>(door->io);
    timer_->expires_after(door->spec.gradio_ws_hold);
    timer_->async_wait([weak](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->HeldTooLong();
    });
    door->jobs->Submit(door->service, std::move(x->params), std::move(ticket),
                       [weak](const HttpResponse& answer) {
                         if (auto self = weak.lock()) self->Submitted(answer);
                       });
  }

  void Submitted(const HttpResponse& answer) {
    if (answer.status != 202) {
      const JobAnswerWords w = ReadJobAnswer(answer);
      if (stage_ == Stage::kSubmitting) stage_ = Stage::kNone;  // refused: no job to end
      return Refuse(w.message, w.hint);
    }
    const nlohmann::json body = nlohmann::json::parse(answer.body, nullptr, false);
    if (body.is_object() && body.contains("id") && body["id"].is_number_integer())
      job_ = body["id"].get<std::int64_t>();
    if (stage_ == Stage::kEnded) {  // the client left while the submission was stored
      if (auto door = Door(); door && job_ != 0) door->jobs->Gone(job_);
      return;
    }
    if (stage_ != Stage::kSubmitting) return;  // forwarded already
    stage_ = Stage::kQueued;
    std::int64_t position = 0;
    if (body.is_object() && body.contains("position") && body["position"].is_number_integer())
      position = body["position"].get<std::int64_t>();
    // Gradio's rank counts the events ahead (0: next); the page shows rank + 1.
    if (position > 0)
      control_.send("", follower_.Inject(WsTextFrame(GradioWsEstimation(position - 1, position))));
  }

  void Forward(std::int64_t job) {
    if (stage_ != Stage::kSubmitting && stage_ != Stage::kQueued) return;
    job_ = job;
    stage_ = Stage::kRunning;
    if (timer_) timer_->cancel();
    control_.send(follower_.Release(), "");
  }

  void HeldTooLong() {
    if (stage_ != Stage::kSubmitting && stage_ != Stage::kQueued) return;
    auto door = Door();
    const std::string wait = door ? FormatSeconds(door->spec.gradio_ws_hold) : "too long";
    Refuse("the job waited " + wait + " for VRAM and was withdrawn (Gradio 3 drops an event " +
               "whose data does not reach it within 60 s)",
           "try again when the GPU is less busy; `vramguard jobs` shows what runs");
  }

  void Completed(bool success) {
    if (stage_ == Stage::kRunning) {
      End(success ? 200 : 500, success ? "" : "Gradio's process_completed says the event failed");
    } else if (stage_ == Stage::kQueued || stage_ == Stage::kSubmitting) {
      End(0, "Gradio ended the event before the door let its data through");
    }
  }

  // Ends the job in the queue (once): forwarded → Ended, waiting → Gone.
  void End(int status, const std::string& why) {
    auto door = Door();
    EndIn(door ? door->jobs : nullptr, status, why);
  }

  void EndIn(DoorJobs* jobs, int status, const std::string& why) {
    const Stage was = stage_;
    if (was == Stage::kEnded || was == Stage::kNone) return;
    stage_ = Stage::kEnded;
    if (jobs == nullptr || job_ == 0) return;  // kSubmitting: Submitted() withdraws it
    if (was == Stage::kRunning) {
      jobs->Ended(job_, status, why);
    } else {
      jobs->Gone(job_);
    }
  }

  // The door's answer in Gradio 3's words, then the WebSocket closed (the service drops the
  // event whose data never came).
  void Refuse(const std::string& why, const std::string& hint) {
    if (refused_) return;
    refused_ = true;
    if (timer_) timer_->cancel();
    End(0, why);
    const std::string text = hint.empty() ? why : why + " (" + hint + ")";
    control_.send(
        "", follower_.Inject(WsTextFrame(GradioWsFailure(text)) + WsCloseFrame(1000, "vramguard")));
    control_.close();
  }

  std::weak_ptr<DoorPolicy::State> door_;
  DoorRoute route_;
  GradioWsFollower follower_;
  ProxyTunnelControl control_;
  std::unique_ptr<asio::steady_timer> timer_;
  Stage stage_ = Stage::kNone;
  std::int64_t job_ = 0;
  bool refused_ = false;
};

DoorPolicy::DoorPolicy(asio::io_context& io, ServicePort& port, EventHub& events,
                       std::string service, const ProxySpec& spec, DoorJobs* jobs,
                       std::size_t route_body_limit)
    : state_(std::make_shared<State>(io, port, events, std::move(service), spec, jobs,
                                     route_body_limit)) {
  state_->subscription =
      events.Subscribe([weak = std::weak_ptr<State>(state_)](const EventRecord& e) {
        auto self = weak.lock();
        if (!self || e.service != self->service || self->held.empty()) return;
        // After the supervisor has applied the change the event announces.
        asio::post(self->io, [weak] {
          if (auto s = weak.lock()) s->Settle();
        });
      });
}

DoorPolicy::~DoorPolicy() { Close(); }

void DoorPolicy::Close() {
  State& s = *state_;
  if (s.closed) return;
  s.closed = true;
  s.events.Unsubscribe(s.subscription);
  s.timer.cancel();
  s.end_timer.cancel();
  s.poll_timer.cancel();
  for (auto& [event, a] : s.awaiting) s.jobs->Ended(a.job, 0, "the proxy stopped while it ran");
  s.awaiting.clear();
  for (auto& [id, p] : s.prompts) s.jobs->Ended(p.job, 0, "the proxy stopped while it ran");
  s.prompts.clear();
  std::vector<std::weak_ptr<GradioWsDoorTap>> taps;
  taps.swap(s.ws_taps);
  for (auto& weak : taps)
    if (auto tap = weak.lock()) tap->Detach(s.jobs);
  for (std::size_t i = 0; i < s.counted.size(); ++i) s.port.EndJob(s.service);
  s.counted.clear();
  s.held.clear();  // their connections end with the proxy
  s.door_jobs.clear();
}

std::size_t DoorPolicy::InspectBody(const ProxyRequestHead& head) {
  const State& s = *state_;
  if (s.closed || s.jobs == nullptr) return 0;
  return MatchDoorRoute(s.spec.routes, head.method, head.target) ? s.route_body_limit : 0;
}

std::vector<std::pair<std::string, std::string>> DoorPolicy::ResponseHeaders(
    const ProxyRequestHead& head) {
  auto it = state_->door_jobs.find(head.id);
  if (it == state_->door_jobs.end() || !it->second.forwarded) return {};
  const State::Job& j = it->second;
  return {{"X-Vramguard-Job", std::to_string(j.id)},
          {"X-Vramguard-Queue-Position", std::to_string(j.position)},
          {"X-Vramguard-Queued-Ms", std::to_string(j.queued_ms)}};
}

ProxyVerdict DoorPolicy::Decide(const ProxyRequestHead& head, ProxyRelease release) {
  State& s = *state_;
  if (s.closed) {
    return ProxyVerdict::Answer(
        Unavailable(kRetryAfterFailedS, "the daemon is stopping", "try again once it is back"));
  }
  const auto v = s.Look();
  if (!v) {
    return ProxyVerdict::Answer(Unavailable(kRetryAfterFailedS,
                                            s.service + " is no longer configured",
                                            "the daemon's config was reloaded without it"));
  }
  // A route that is a job: admitted by the job queue, not by the service's state alone.
  if (s.jobs != nullptr && head.body_read) {
    if (const DoorRoute* route = MatchDoorRoute(s.spec.routes, head.method, head.target)) {
      Result<DoorExtract> x = ExtractDoorParams(*route, head.body);
      if (!x) {
        return ProxyVerdict::Answer(DoorAnswer(route->protocol, 400, x.error().message,
                                               x.error().hint, nlohmann::json::object(),
                                               kRetryAfterFailedS));
      }
      if (x->is_job) return s.HoldAsJob(head, *route, std::move(x->params), std::move(release));
    }
  }
  // Nothing waits ahead of it: straight through while the service runs.
  if (s.held.empty() && v->state == ServicePort::State::kRunning && s.Admit(head.id, head.upgrade))
    return ProxyVerdict::Forward();
  if (!s.spec.start_on_demand) {
    return ProxyVerdict::Answer(
        Unavailable(kRetryAfterFailedS,
                    s.service + " is " + ServiceStateName(v->state) +
                        (v->detail.empty() ? std::string() : ": " + v->detail),
                    "start it with `vramguard start " + s.service +
                        "` (or set start_on_demand = true in its [service.proxy])"));
  }
  s.held.emplace(head.id,
                 State::Held{std::move(release),
                             std::chrono::steady_clock::now() + s.spec.hold_timeout, head.upgrade});
  s.ArmTimer();
  // Settled after this head is held (a release never resumes inside Decide's caller).
  asio::post(s.io,
             [weak = std::weak_ptr<State>(state_), client = head.client, target = head.target] {
               if (auto self = weak.lock()) self->Settle(client, target);
             });
  return ProxyVerdict::Hold();
}

void DoorPolicy::OnRequestEnd(const ProxyRequestHead& head, const ProxyRequestEnd& end) {
  State& s = *state_;
  if (s.closed) return;
  if (auto it = s.door_jobs.find(head.id); it != s.door_jobs.end()) {
    State::Job& j = it->second;
    if (j.forwarded && j.ends == DoorEnds::kGradioQueue) {
      s.FollowEvent(j, end);
    } else if (j.forwarded && j.ends == DoorEnds::kComfyHistory) {
      s.FollowPrompt(j, end);
    } else if (j.forwarded) {
      s.jobs->Ended(j.id, end.status, end.error);
    } else if (j.id != 0) {
      s.jobs->Gone(j.id);  // left while queued (or answered: then the job has ended already)
    } else if (!j.submitted) {
      j.ended = true;  // the submission's answer is still to come: Submitted finishes this
      return;
    }
    s.door_jobs.erase(it);
    return;
  }
  s.held.erase(head.id);  // a client that left while held
  if (s.counted.erase(head.id) > 0) s.port.EndJob(s.service);
  if (s.held.empty()) s.starts_this_wait = 0;
}

ProxyBodySink DoorPolicy::WatchResponse(const ProxyRequestHead& head, int status) {
  State& s = *state_;
  if (s.closed || s.jobs == nullptr) return nullptr;
  std::weak_ptr<State> weak = state_;
  if (auto it = s.door_jobs.find(head.id); it != s.door_jobs.end()) {
    if (!it->second.forwarded || it->second.ends == DoorEnds::kAnswer || status != 200)
      return nullptr;
    // The join's answer ({"event_id": …}) or the prompt's ({"prompt_id": …}), kept up to its
    // first kGradioLinePrefix bytes.
    return [weak, rid = head.id](std::string_view piece, bool end) {
      auto self = weak.lock();
      if (!self || end) return;
      auto it = self->door_jobs.find(rid);
      if (it == self->door_jobs.end()) return;
      std::string& body = it->second.answer_body;
      body.append(piece.substr(0, kGradioLinePrefix - std::min(body.size(), kGradioLinePrefix)));
    };
  }
  if (head.method != "GET" || !TargetPath(head.target).ends_with("/queue/data") ||
      !s.FollowsGradio()) {
    return nullptr;
  }
  std::optional<std::string> session = QueryParam(head.target, "session_hash");
  if (!session) return nullptr;
  s.StreamOpened(*session);
  auto scanner = std::make_shared<GradioEventScanner>();
  return [weak, scanner, session = *session](std::string_view piece, bool end) {
    auto self = weak.lock();
    if (!self || self->closed) return;
    if (end) {
      self->StreamEnded(session);
      return;
    }
    for (const GradioEvent& e : scanner->Feed(piece)) {
      if (e.msg == "process_completed") self->Completed(e.event_id, e.success.value_or(true));
    }
  };
}

std::shared_ptr<ProxyTunnelTap> DoorPolicy::TapTunnel(const ProxyRequestHead& head) {
  State& s = *state_;
  if (s.closed || s.jobs == nullptr) return nullptr;
  const DoorRoute* route = MatchDoorRoute(s.spec.routes, head.method, head.target);
  if (route == nullptr || route->ends != DoorEnds::kGradioWs) return nullptr;
  std::erase_if(s.ws_taps, [](const auto& weak) { return weak.expired(); });
  auto tap = std::make_shared<GradioWsDoorTap>(state_, *route, s.route_body_limit);
  s.ws_taps.push_back(tap);
  return tap;
}

std::size_t DoorPolicy::gradio_ws_followed() const {
  std::size_t n = 0;
  for (const auto& weak : state_->ws_taps)
    if (auto tap = weak.lock(); tap && tap->following()) ++n;
  return n;
}

std::size_t DoorPolicy::gradio_events_followed() const { return state_->awaiting.size(); }
std::size_t DoorPolicy::comfy_prompts_followed() const { return state_->prompts.size(); }
void DoorPolicy::SetUpstreamGet(UpstreamGet get) { state_->upstream_get = std::move(get); }

std::size_t DoorPolicy::held() const { return state_->held.size(); }
std::size_t DoorPolicy::counted() const { return state_->counted.size(); }
std::uint64_t DoorPolicy::starts() const { return state_->starts; }
std::size_t DoorPolicy::jobs_waiting() const {
  std::size_t n = 0;
  for (const auto& [id, j] : state_->door_jobs) n += j.forwarded ? 0 : 1;
  return n;
}

}  // namespace vg
