// The demo service's behaviour, without sockets: an image-to-video WebUI's endpoints over one
// GpuMemory.
//
//   GET  / and /health  200 {"status":"ok","model_bytes","held_bytes","busy"}
//   POST /generate      {"resolution","frames","steps"} → grows the allocation to the job's peak
//                       (job.h), computes for steps × step_time, answers
//                       200 {"ok":true,"peak_bytes","held_bytes","seconds"} and KEEPS the
//                       high-water mark allocated, like PyTorch's caching allocator. Bad
//                       parameters: 400 {"error","parameter"}. Out of memory: PyTorch's message on
//                       the error sink, what was held before stays held, 500 {"error":"CUDA out of
//                       memory",…}.
//   POST /free          releases back to the model size (ComfyUI's /free): 200 {"freed_bytes"}
//
// Jobs and /free run one at a time, in arrival order as the lock grants it; the others wait.
// Health never waits for a job. Thread-safe: Handle may be called from many threads. Stop() makes
// a running job end at once and later jobs answer 503.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "gpu_memory.h"
#include "http.h"
#include "job.h"

namespace vg::demo {

class DemoApp {
 public:
  // Receives each complete line meant for stderr (PyTorch's OOM message), without newline.
  using ErrorSink = std::function<void(std::string_view)>;

  // `memory` must already hold the model (model bytes); it must outlive the app.
  DemoApp(GpuMemory& memory, Bytes model, std::chrono::milliseconds step_time, ErrorSink errors);

  HttpResponse Handle(const HttpRequest& request);
  // Ends a running job now; later /generate and /free answer 503.
  void Stop();

  Bytes held() const { return Bytes(held_.load()); }
  bool busy() const { return busy_.load(); }

 private:
  HttpResponse Health() const;
  HttpResponse Generate(const HttpRequest& request);
  HttpResponse Free();
  bool Stopping();
  // Waits `duration` unless Stop() comes first; false when stopped.
  bool Compute(std::chrono::milliseconds duration);

  GpuMemory& memory_;
  const Bytes model_;
  const std::chrono::milliseconds step_time_;
  ErrorSink errors_;

  std::mutex job_mutex_;  // one job or /free at a time; guards memory_
  std::atomic<std::uint64_t> held_;
  std::atomic<bool> busy_ = false;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mutex_
};

}  // namespace vg::demo
