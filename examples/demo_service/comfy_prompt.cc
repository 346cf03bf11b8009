#include "comfy_prompt.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace vg::demo {
namespace {

using Json = nlohmann::json;

// "/api/history/x" → "/history/x": ComfyUI answers both.
std::string_view WithoutApi(std::string_view path) {
  return path.starts_with("/api/") ? path.substr(4) : path;
}

// The largest whole number any node's inputs give `key`, if any.
std::optional<long long> LargestInput(const Json& prompt, const char* key) {
  std::optional<long long> out;
  for (const auto& [id, node] : prompt.items()) {
    if (!node.is_object() || !node.contains("inputs") || !node["inputs"].is_object()) continue;
    const Json& in = node["inputs"];
    if (in.contains(key) && in[key].is_number_integer()) {
      const long long v = in[key].get<long long>();
      if (!out || v > *out) out = v;
    }
  }
  return out;
}

}  // namespace

ComfyPrompts::~ComfyPrompts() {
  std::vector<Runner> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (Runner& r : threads) r.thread.join();
}

bool ComfyPrompts::Handles(const HttpRequest& request) {
  const std::string_view path = WithoutApi(request.Path());
  return path == "/prompt" || path == "/queue" || path.starts_with("/history/");
}

void ComfyPrompts::Stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
}

HttpResponse ComfyPrompts::Handle(const HttpRequest& request) {
  const std::string_view path = WithoutApi(request.Path());
  if (path == "/prompt") {
    if (request.method != "POST") return ErrorResponse(405, "use POST /prompt");
    return Queue(request);
  }
  if (request.method != "GET") return ErrorResponse(405, "use GET");
  if (path == "/queue") return QueueState();
  return History(path.substr(std::string_view("/history/").size()));
}

HttpResponse ComfyPrompts::Queue(const HttpRequest& request) {
  const Json body = Json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("prompt") || !body["prompt"].is_object()) {
    return JsonResponse(
        400,
        {{"error", {{"type", "invalid_prompt"}, {"message", "expected {\"prompt\": {node: …}}"}}},
         {"node_errors", Json::object()}});
  }
  const Json& graph = body["prompt"];
  Json params = Json::object();
  if (auto w = LargestInput(graph, "width")) params["resolution"] = *w;
  if (auto f = LargestInput(graph, "length")) {
    params["frames"] = *f;
  } else if (auto b = LargestInput(graph, "batch_size")) {
    params["frames"] = *b;
  }
  if (auto s = LargestInput(graph, "steps")) params["steps"] = *s;
  HttpRequest generate;
  generate.method = "POST";
  generate.target = "/generate";
  generate.body = params.dump();
  std::string id;
  std::uint64_t number = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return ErrorResponse(503, "shutting down");
    const auto pending =
        std::count_if(prompts_.begin(), prompts_.end(), [](const Prompt& p) { return !p.done; });
    if (static_cast<std::size_t>(pending) >= kMaxPending)
      return ErrorResponse(503, "the queue is full: try again later");
    number = next_++;
    id = "demo-prompt-" + std::to_string(number);
    prompts_.push_back(Prompt{id, number, false, false, 0, ""});
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (it->finished->load()) {
        it->thread.join();
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    std::thread runner([this, id, finished, generate = std::move(generate)] {
      {
        std::lock_guard lock(mutex_);
        for (Prompt& p : prompts_)
          if (p.id == id) p.running = true;
      }
      HttpResponse r = app_.Handle(generate);  // one at a time: the app runs jobs in turn
      {
        std::lock_guard lock(mutex_);
        for (Prompt& p : prompts_) {
          if (p.id != id) continue;
          p.running = false;
          p.done = true;
          p.status = r.status;
          p.output = r.body;
        }
        // Ended prompts beyond the history's size leave it, oldest first.
        std::size_t ended = static_cast<std::size_t>(std::count_if(
            prompts_.begin(), prompts_.end(), [](const Prompt& p) { return p.done; }));
        for (auto it = prompts_.begin(); ended > kHistoryKept && it != prompts_.end();) {
          if (it->done) {
            it = prompts_.erase(it);
            --ended;
          } else {
            ++it;
          }
        }
      }
      finished->store(true);
    });
    threads_.push_back(Runner{std::move(runner), std::move(finished)});
  }
  return JsonResponse(200,
                      {{"prompt_id", id}, {"number", number}, {"node_errors", Json::object()}});
}

HttpResponse ComfyPrompts::History(std::string_view id) {
  std::lock_guard lock(mutex_);
  for (const Prompt& p : prompts_) {
    if (p.id != id || !p.done) continue;
    const Json output = Json::parse(p.output, nullptr, false);
    return JsonResponse(
        200, {{p.id,
               {{"outputs", {{"9", {{"result", output.is_discarded() ? Json(p.output) : output}}}}},
                {"status",
                 {{"status_str", p.status == 200 ? "success" : "error"},
                  {"completed", p.status == 200},
                  {"messages", Json::array()}}}}}});
  }
  return JsonResponse(200, Json::object());
}

HttpResponse ComfyPrompts::QueueState() {
  std::lock_guard lock(mutex_);
  Json running = Json::array(), pending = Json::array();
  for (const Prompt& p : prompts_) {
    if (p.done) continue;
    (p.running ? running : pending).push_back(Json::array({p.number, p.id, Json::object()}));
  }
  return JsonResponse(200, {{"queue_running", running}, {"queue_pending", pending}});
}

}  // namespace vg::demo
