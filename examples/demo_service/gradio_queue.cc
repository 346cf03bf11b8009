#include "gradio_queue.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace vg::demo {
namespace {

using Json = nlohmann::json;

std::string SessionOf(std::string_view target) {
  constexpr std::string_view kKey = "session_hash=";
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    if (pair.starts_with(kKey)) return std::string(pair.substr(kKey.size()));
    if (pair.size() == query.size()) break;
    query.remove_prefix(pair.size() + 1);
  }
  return "";
}

}  // namespace

std::optional<HttpRequest> GradioJobRequest(const Json& data) {
  if (!data.is_array() || data.size() < 3) return std::nullopt;
  HttpRequest generate;
  generate.method = "POST";
  generate.target = "/generate";
  generate.body = Json{{"resolution", data[0]}, {"frames", data[1]}, {"steps", data[2]}}.dump();
  return generate;
}

GradioJobResult RunGradioJob(DemoApp& app, const HttpRequest& generate) {
  const HttpResponse r = app.Handle(generate);
  Json output = Json::parse(r.body, nullptr, false);
  if (output.is_discarded()) output = r.body;
  return GradioJobResult{r.status == 200, std::move(output)};
}

GradioQueue::GradioQueue(DemoApp& app, std::chrono::milliseconds wait) : app_(app), wait_(wait) {}

GradioQueue::~GradioQueue() {
  Stop();
  for (Runner& r : threads_) {
    if (r.thread.joinable()) r.thread.join();
  }
}

bool GradioQueue::Handles(const HttpRequest& request) {
  std::string_view path = request.Path();
  return path == "/gradio_api/queue/join" || path == "/gradio_api/queue/data" || path == "/app";
}

namespace {

// The page a browser gets at /app: what a Gradio app's page does with the queue, in 40 lines
// (Gradio 4's join + event stream; with ?queue=ws Gradio 3's WebSocket, gradio_ws.h).
constexpr const char* kAppPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>vg-demo-service</title></head>
<body>
<h1>Image to video (vramguard's demo)</h1>
<label>resolution <select id="resolution"><option>256</option><option selected>512</option>
<option>768</option><option>1024</option></select></label>
<label>frames <input id="frames" type="number" value="16" min="1" max="64"></label>
<label>steps <input id="steps" type="number" value="10" min="1" max="200"></label>
<button id="generate">Generate</button>
<p>status: <span id="status">idle</span></p>
<pre id="output"></pre>
<script>
const $ = (id) => document.getElementById(id);
$('generate').addEventListener('click', async () => {
  const session = Math.random().toString(36).slice(2);
  const data = ['resolution', 'frames', 'steps'].map((k) => Number($(k).value));
  $('status').textContent = 'joining';
  $('output').textContent = '';
  if (new URLSearchParams(location.search).get('queue') === 'ws') return viaWebSocket(data, session);
  const r = await fetch('gradio_api/queue/join', {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({data, fn_index: 0, session_hash: session})});
  const join = await r.json().catch(() => ({}));
  if (!r.ok) {
    $('status').textContent = 'error';
    $('output').textContent = join.detail || join.error || ('HTTP ' + r.status);
    return;
  }
  const position = r.headers.get('x-vramguard-queue-position');
  $('status').textContent = 'queued' + (position ? ' (position ' + position + ')' : '');
  const events = new EventSource('gradio_api/queue/data?session_hash=' + session);
  events.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.event_id !== join.event_id) return;
    if (e.msg === 'process_starts') $('status').textContent = 'running';
    if (e.msg === 'process_completed') {
      events.close();
      $('status').textContent = e.success ? 'done' : 'error';
      $('output').textContent = JSON.stringify(e.output);
    }
  };
});
// Gradio 3.x (/app?queue=ws): one WebSocket per click on queue/join, as AUTOMATIC1111's page.
function viaWebSocket(data, session) {
  const base = location.pathname.replace(/app$/, '');
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
                           base + 'queue/join');
  const send = (m) => ws.send(JSON.stringify(Object.assign({fn_index: 0, session_hash: session}, m)));
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.msg === 'send_hash') send({});
    if (e.msg === 'estimation') $('status').textContent = 'queued (position ' + (e.rank + 1) + ')';
    if (e.msg === 'send_data') send({data, event_data: null});
    if (e.msg === 'process_starts') $('status').textContent = 'running';
    if (e.msg === 'process_completed') {
      $('status').textContent = e.success ? 'done' : 'error';
      $('output').textContent = e.success ? JSON.stringify(e.output) : e.output.error;
    }
  };
  ws.onclose = () => {
    if (!['done', 'error'].includes($('status').textContent)) {
      $('status').textContent = 'error';
      $('output').textContent = 'the connection closed';
    }
  };
}
</script>
</body></html>
)html";

}  // namespace

HttpResponse GradioQueue::Handle(const HttpRequest& request) {
  if (request.Path() == "/app") {
    if (request.method != "GET") return ErrorResponse(405, "use GET /app");
    HttpResponse page{200, kAppPage};
    page.content_type = "text/html; charset=utf-8";
    return page;
  }
  if (request.Path() == "/gradio_api/queue/join") {
    if (request.method != "POST") return ErrorResponse(405, "use POST /gradio_api/queue/join");
    return Join(request);
  }
  if (request.method != "GET") return ErrorResponse(405, "use GET /gradio_api/queue/data");
  return Data(request);
}

void GradioQueue::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

HttpResponse GradioQueue::Join(const HttpRequest& request) {
  const Json body = Json::parse(request.body, nullptr, false);
  std::optional<HttpRequest> generate;
  if (body.is_object() && body.contains("data")) generate = GradioJobRequest(body["data"]);
  if (!generate || !body.contains("session_hash") || !body["session_hash"].is_string()) {
    return JsonResponse(422, {{"detail",
                               "expected {\"data\": [resolution, frames, steps], "
                               "\"session_hash\": \"…\"}"}});
  }
  std::string id;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return ErrorResponse(503, "shutting down");
    const auto pending =
        std::count_if(events_.begin(), events_.end(), [](const Event& e) { return !e.done; });
    if (static_cast<std::size_t>(pending) >= kMaxPending) {
      return ErrorResponse(503, "the queue is full: try again later");
    }
    id = "ev" + std::to_string(next_++);
    events_.push_back(Event{id, body["session_hash"].get<std::string>(), false, {}});
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (it->finished->load()) {
        it->thread.join();
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    std::thread runner([this, id, finished, generate = std::move(*generate)] {
      GradioJobResult result = RunGradioJob(app_, generate);
      {
        std::lock_guard lock(mutex_);
        for (Event& e : events_) {
          if (e.id != id) continue;
          e.done = true;
          e.result = result;
        }
      }
      changed_.notify_all();
      finished->store(true);
    });
    threads_.push_back(Runner{std::move(runner), std::move(finished)});
  }
  return JsonResponse(200, {{"event_id", id}});
}

HttpResponse GradioQueue::Data(const HttpRequest& request) {
  const std::string session = SessionOf(request.target);
  if (session.empty()) return JsonResponse(422, {{"detail", "session_hash is required"}});
  std::vector<Event> finished;
  {
    std::unique_lock lock(mutex_);
    const bool idle = changed_.wait_for(lock, wait_, [&] {
      return stopping_ || std::none_of(events_.begin(), events_.end(), [&](const Event& e) {
               return e.session == session && !e.done;
             });
    });
    if (!idle || stopping_) return ErrorResponse(503, "shutting down or still running");
    for (auto it = events_.begin(); it != events_.end();) {
      if (it->session == session) {
        finished.push_back(std::move(*it));
        it = events_.erase(it);
      } else {
        ++it;
      }
    }
  }
  HttpResponse r;
  r.content_type = "text/event-stream";
  for (const Event& e : finished) {
    r.body +=
        "data: " + Json{{"msg", "estimation"}, {"event_id", e.id}, {"rank", 0}}.dump() + "\n\n";
    r.body += "data: " + Json{{"msg", "process_starts"}, {"event_id", e.id}}.dump() + "\n\n";
    r.body += "data: " +
              Json{{"msg", "process_completed"},
                   {"event_id", e.id},
                   {"success", e.result.success},
                   {"output", e.result.output}}
                  .dump() +
              "\n\n";
  }
  r.body += "data: " + Json{{"msg", "close_stream"}, {"event_id", nullptr}}.dump() + "\n\n";
  return r;
}

}  // namespace vg::demo
