// A ComfyUI-like prompt API in front of the demo's /generate (ComfyUI's protocol, in its shape):
//
//   POST /prompt or /api/prompt  {"prompt": {"<node>": {"class_type": …, "inputs": {…}}, …},
//                                 "client_id": "…"} → 200 {"prompt_id": "…", "number": N,
//                                 "node_errors": {}} at once; the workflow runs behind it, one
//                                 prompt at a time. Its job: the largest "width" of any node as the
//                                 resolution, the largest "length" (or "batch_size") as frames,
//                                 the largest "steps" as steps.
//   GET  /history/<id>           → {} until the prompt has ended, then {"<id>": {"outputs": {…},
//                                 "status": {"status_str": "success" | "error", "completed":
//                                 …}}} (the /generate answer as its output).
//   GET  /queue                  → {"queue_running": [[n, id, …]], "queue_pending": [[n, id, …]]}
//   (and the same under /api/)
//
// So a front door that ended a prompt's job with its answer would admit the next job while the
// prompt still holds VRAM; vramguard's comfyui-history routes ask /history (docs/proxy.md).
// Thread-safe; Stop() before destruction (the app's Stop ends the running job).
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "demo_app.h"
#include "http.h"

namespace vg::demo {

class ComfyPrompts {
 public:
  static constexpr std::size_t kMaxPending = 32;
  static constexpr std::size_t kHistoryKept = 64;

  explicit ComfyPrompts(DemoApp& app) : app_(app) {}
  ~ComfyPrompts();  // joins the prompt threads (stop the app first)
  ComfyPrompts(const ComfyPrompts&) = delete;
  ComfyPrompts& operator=(const ComfyPrompts&) = delete;

  static bool Handles(const HttpRequest& request);
  HttpResponse Handle(const HttpRequest& request);
  void Stop();

 private:
  struct Prompt {
    std::string id;
    std::uint64_t number = 0;
    bool running = false;
    bool done = false;
    int status = 0;
    std::string output;  // the /generate answer's body
  };
  HttpResponse Queue(const HttpRequest& request);
  HttpResponse History(std::string_view id);
  HttpResponse QueueState();

  DemoApp& app_;
  std::mutex mutex_;
  std::deque<Prompt> prompts_;  // guarded by mutex_; ended ones kept up to kHistoryKept
  struct Runner {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<Runner> threads_;  // guarded by mutex_; finished ones joined at the next prompt
  std::uint64_t next_ = 1;
  bool stopping_ = false;
};

}  // namespace vg::demo
