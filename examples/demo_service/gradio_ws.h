// Gradio 3.x's WebSocket queue in front of the demo's /generate, as Gradio 3.41 (AUTOMATIC1111's
// WebUI) speaks it, beside Gradio 4's queue (gradio_queue.h):
//
//   GET /queue/join, Upgrade: websocket (RFC 6455; no extensions, no subprotocol). One event per
//   connection, text frames of JSON:
//     server → {"msg":"send_hash"}
//     client → {"fn_index":0,"session_hash":"…"}                      (within 5 s, as Gradio 3)
//     server → {"msg":"estimation","rank":R,"queue_size":Q,"avg_event_process_time":null,
//               "avg_event_concurrent_process_time":null,"rank_eta":null,"queue_eta":0}
//     … when it is the event's turn (one at a time):
//     server → {"msg":"send_data"}
//     client → {"data":[resolution,frames,steps],"event_data":null,"fn_index":0,
//               "session_hash":"…"}                                    (within 60 s, as Gradio 3)
//     server → {"msg":"process_starts"}
//     server → {"msg":"process_completed","output":{"data":[<the /generate answer>],
//               "is_generating":false},"success":true}
//              or {"msg":"process_completed","output":{"error":"<the answer's error>"},
//               "success":false} (a job the app refused, data that is not [r, f, s])
//     server closes (1000).
//   The data message late: {"msg":"process_completed","output":{"error":"Time out uploading data
//   to server"},"success":false}, then close (1000); the hash late: close (1000).
//
// The queue's order is its own: one event at a time has its turn (send_data until its job ends),
// the others wait in arrival order. R counts the events waiting ahead of this one (the one whose
// turn it is has left the queue, as in Gradio 3: the first event gets rank 0, queue_size 1); Q is
// the number waiting, this one included. An event whose client leaves before its job starts
// leaves the queue and the next one gets its turn; a job that started runs to its end. Jobs of
// this queue, of Gradio 4's and plain /generate requests run one at a time on the app's lock.
// Every fn_index runs the demo's one function.
//
// Limits: at most `max_connections` WebSockets at once (GradioQueue::kMaxPending; beyond: the
// upgrade is refused with 503); a message over 1 MiB closes with 1009, a binary one with 1003,
// a hash message without "session_hash" with 1008; pings are answered with pongs; the closing
// handshake waits at most 5 s for the client. Each connection runs on a thread of its own (the
// HTTP server's takeover), not on a worker.
//
// Thread-safe. Stop() refuses new connections and closes waiting ones with 1001 (running jobs end
// with the app's Stop); the destructor waits until every connection has ended (shut the server
// down first).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "demo_app.h"
#include "gradio_queue.h"
#include "http.h"

namespace vg::demo {

struct GradioWsOptions {
  std::chrono::milliseconds hash_timeout{5000};   // send_hash → the hash message
  std::chrono::milliseconds data_timeout{60000};  // send_data → the data message
  std::size_t max_connections = GradioQueue::kMaxPending;
  std::size_t max_message = std::size_t{1} << 20;
};

class GradioWsQueue {
 public:
  explicit GradioWsQueue(DemoApp& app, GradioWsOptions options = {});
  ~GradioWsQueue();
  GradioWsQueue(const GradioWsQueue&) = delete;
  GradioWsQueue& operator=(const GradioWsQueue&) = delete;

  // Whether this request is the queue's (GET /queue/join, its path).
  static bool Handles(const HttpRequest& request);
  // A takeover that speaks the protocol above, or an answer: 405 for another method, 400 for a
  // request that is no WebSocket upgrade, 503 when full or stopping.
  HttpResponse Handle(const HttpRequest& request);
  void Stop();

 private:
  class Session;
  struct Slot;  // one connection's place under max_connections, released when its takeover ends
  struct Waiting {
    std::uint64_t id;
    std::function<void()> turn;  // called under mutex_; only posts
  };

  // Puts event `id` at the end of the line; `turn` is called when its turn comes (at once when
  // the line was empty). Returns {rank, queue_size}.
  std::pair<std::size_t, std::size_t> JoinLine(std::uint64_t id, std::function<void()> turn);
  // Takes `id` out of the line (nothing when it is not in it); when its turn it was, the next
  // event's comes.
  void LeaveLine(std::uint64_t id);

  DemoApp& app_;
  const GradioWsOptions options_;
  std::mutex mutex_;
  std::condition_variable released_;
  std::deque<Waiting> line_;                // guarded by mutex_; front: the event whose turn it is
  std::map<std::uint64_t, Session*> open_;  // guarded by mutex_
  std::size_t slots_ = 0;                   // guarded by mutex_
  std::uint64_t next_ = 1;                  // guarded by mutex_
  bool stopping_ = false;                   // guarded by mutex_
};

}  // namespace vg::demo
