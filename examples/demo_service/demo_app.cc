#include "demo_app.h"

#include <nlohmann/json.hpp>

namespace vg::demo {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

}  // namespace

DemoApp::DemoApp(GpuMemory& memory, Bytes model, std::chrono::milliseconds step_time,
                 ErrorSink errors)
    : memory_(memory),
      model_(model),
      step_time_(step_time),
      errors_(std::move(errors)),
      held_(memory.Held().count()) {}

HttpResponse DemoApp::Handle(const HttpRequest& request) {
  std::string_view path = request.Path();
  auto only = [&](const char* method) -> std::optional<HttpResponse> {
    if (request.method == method) return std::nullopt;
    HttpResponse r = ErrorResponse(405, std::string("use ") + method + " " + std::string(path));
    r.headers.emplace_back("Allow", method);
    return r;
  };
  if (path == "/" || path == "/health") {
    if (request.method == "HEAD") return {200, ""};
    if (auto r = only("GET")) return *r;
    return Health();
  }
  if (path == "/generate") {
    if (auto r = only("POST")) return *r;
    return Generate(request);
  }
  if (path == "/free") {
    if (auto r = only("POST")) return *r;
    return Free();
  }
  if (path == kUploadPath) {  // an image upload's stand-in: what arrived, counted
    if (auto r = only("POST")) return *r;
    const UploadDigest d = request.upload.value_or(UploadDigest{});
    return JsonResponse(200, {{"bytes", d.bytes}, {"adler32", d.adler32}});
  }
  return ErrorResponse(
      404, "no such endpoint: use GET /health, POST /generate, POST /free or POST /upload");
}

void DemoApp::Stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
}

HttpResponse DemoApp::Health() const {
  return JsonResponse(200, {{"status", "ok"},
                            {"model_bytes", model_.count()},
                            {"held_bytes", held_.load()},
                            {"busy", busy_.load()}});
}

bool DemoApp::Stopping() {
  std::lock_guard lock(stop_mutex_);
  return stopping_;
}

bool DemoApp::Compute(std::chrono::milliseconds duration) {
  std::unique_lock lock(stop_mutex_);
  return !stop_cv_.wait_for(lock, duration, [&] { return stopping_; });
}

HttpResponse DemoApp::Generate(const HttpRequest& request) {
  auto job = ParseJob(request.body);
  if (!job) {
    Json body = {{"error", job.error().message}};
    if (!job.error().parameter.empty()) body["parameter"] = job.error().parameter;
    return JsonResponse(400, body);
  }
  std::lock_guard job_lock(job_mutex_);
  if (Stopping()) return ErrorResponse(503, "shutting down");
  busy_ = true;
  auto start = SteadyClock::now();
  const Bytes before = memory_.Held();
  const Bytes peak = PeakBytes(model_, *job);
  auto grown = memory_.Grow(peak);  // below the cached high-water mark this allocates nothing
  held_ = memory_.Held().count();
  if (!grown) {
    busy_ = false;
    auto oom = memory_.LastOom();
    if (grown.error().code != ErrorCode::kRefused || !oom) {
      return ErrorResponse(500, grown.error().message);
    }
    // PyTorch's view: the model's tensors are allocated, the rest of what it holds is cache.
    errors_(TorchOomMessage(*oom, model_, before));
    return JsonResponse(500, {{"error", "CUDA out of memory"},
                              {"tried_to_allocate_bytes", oom->requested.count()},
                              {"total_bytes", oom->total.count()},
                              {"free_bytes", oom->free.count()},
                              {"held_bytes", held_.load()}});
  }
  bool finished = Compute(JobDuration(*job, step_time_));
  busy_ = false;
  if (!finished) return ErrorResponse(503, "shutting down");
  return JsonResponse(200, {{"ok", true},
                            {"peak_bytes", peak.count()},
                            {"held_bytes", held_.load()},
                            {"seconds", ToSeconds(SteadyClock::now() - start)}});
}

HttpResponse DemoApp::Free() {
  std::lock_guard job_lock(job_mutex_);
  if (Stopping()) return ErrorResponse(503, "shutting down");
  const Bytes before = memory_.Held();
  auto released = memory_.ReleaseTo(model_);
  held_ = memory_.Held().count();
  if (!released) return ErrorResponse(500, released.error().message);
  return JsonResponse(200, {{"freed_bytes", (before - memory_.Held()).count()}});
}

}  // namespace vg::demo
