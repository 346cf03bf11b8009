// A Gradio-like queue in front of the demo's /generate (Gradio 4/5's protocol, in its shape):
//
//   POST /gradio_api/queue/join  {"data": [resolution, frames, steps], "fn_index": 0,
//                                 "session_hash": "…"} → 200 {"event_id": "…"} at once; the job
//                                 runs behind it (one at a time, as the app runs jobs).
//   GET  /gradio_api/queue/data?session_hash=…
//                                 → text/event-stream: for each of the session's events
//                                 `estimation`, `process_starts`, then `process_completed` with
//                                 "success" and "output" (the /generate answer), then
//                                 `close_stream`. The demo's server writes whole answers, so the
//                                 stream is answered when the session has no event left to run
//                                 (at most `wait`), every message at once.
//
//   GET  /app                     → a minimal Gradio-like page: resolution, frames, steps and a
//                                 Generate button that joins the queue and follows the event
//                                 stream, as a Gradio app's page does (relative URLs, so it
//                                 works behind a proxy); a refusal shows its `detail`.
//
// So a front door that ends a queue job with the join's answer would admit the next job while
// the first still holds VRAM; vramguard's gradio-queue routes follow the stream (docs/proxy.md).
// Thread-safe; Stop() ends the waits (the app's Stop ends the jobs).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "demo_app.h"
#include "http.h"

namespace vg::demo {

// One Gradio event's job, shared by Gradio 4's queue here and Gradio 3's WebSocket queue
// (gradio_ws.h): the event's `data`, [resolution, frames, steps], is the demo's /generate request.
// Nullopt when `data` is not an array of at least three values.
std::optional<HttpRequest> GradioJobRequest(const nlohmann::json& data);

// What a Gradio event's job ended with: whether it succeeded (the app answered 200) and the
// app's answer as JSON (a body that is not JSON as a string).
struct GradioJobResult {
  bool success = false;
  nlohmann::json output;
};
// Runs the job on the app (one at a time, as the app runs jobs: blocks while others run).
GradioJobResult RunGradioJob(DemoApp& app, const HttpRequest& generate);

class GradioQueue {
 public:
  static constexpr std::size_t kMaxPending = 32;

  GradioQueue(DemoApp& app, std::chrono::milliseconds wait = std::chrono::minutes(10));
  ~GradioQueue();  // joins the job threads (stop the app first)
  GradioQueue(const GradioQueue&) = delete;
  GradioQueue& operator=(const GradioQueue&) = delete;

  // Whether this request is one of the queue's (its path).
  static bool Handles(const HttpRequest& request);
  HttpResponse Handle(const HttpRequest& request);
  void Stop();

 private:
  struct Event {
    std::string id;
    std::string session;
    bool done = false;
    GradioJobResult result;  // once done
  };
  HttpResponse Join(const HttpRequest& request);
  HttpResponse Data(const HttpRequest& request);

  DemoApp& app_;
  const std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;  // guarded by mutex_; finished ones leave with their stream
  struct Runner {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<Runner> threads_;  // guarded by mutex_; finished ones are joined at the next join
  std::uint64_t next_ = 1;
  bool stopping_ = false;
};

}  // namespace vg::demo
