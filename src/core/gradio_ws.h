// Gradio 3's WebSocket queue as the front door follows it (docs/proxy.md, "Gradio 3's WebSocket
// queue"; AUTOMATIC1111's WebUI is Gradio 3.41). One WebSocket per event on `…/queue/join`:
//
//   service → {"msg": "send_hash"}          client → {"fn_index", "session_hash"}
//   service → {"msg": "estimation", …}      (its own queue's position)
//   service → {"msg": "send_data"}          client → {"data": […], "event_data", "fn_index", …}
//   service → {"msg": "process_starts"}, {"msg": "progress"|"process_generating", …}
//   service → {"msg": "process_completed", "output": {…}, "success": true|false}, then closes.
//
// The job's parameters are in the client's data message, so the door holds exactly that message's
// bytes (and whatever the client sends after it) until the job is admitted, while everything
// before it passes; the service's messages always pass, and the door's own messages (its queue
// position, a refusal) are put between two of them — never inside a frame.
//
// Pure: bytes in, bytes out; the door (daemon/door.cc) moves them and submits the job. Bounded:
// the client's data message is read whole up to `max_data_bytes` (beyond: an error, the door
// refuses it); of every service message only kGradioLinePrefix bytes and its tail are kept; what
// the client sends while its data message is held is bounded by the same limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ws_frames.h"

namespace vg {

class GradioWsFollower {
 public:
  explicit GradioWsFollower(std::size_t max_data_bytes);

  struct Up {
    std::string forward;               // bytes for the service now
    std::optional<std::string> data;   // the data message's text, when it came now (held)
    std::optional<std::string> error;  // the client's stream cannot be followed: why
  };
  // The next bytes from the client.
  Up FromClient(std::string_view bytes);

  struct Down {
    std::string forward;               // bytes for the client now (the door's frames included)
    std::optional<bool> completed;     // a process_completed came: its success
    bool asked_for_data = false;       // a send_data came
    std::optional<std::string> error;  // the service's stream cannot be followed (it still passes)
  };
  // The next bytes from the service.
  Down FromService(std::string_view bytes);

  // The held data message and what came after it, for the service; from now on the client's
  // bytes pass as they come.
  std::string Release();
  // A frame of the door's own for the client: the bytes to write now (with any that waited),
  // or "" when the service's stream is inside a frame (they go with a later FromService).
  std::string Inject(std::string_view frame);

  bool holding() const { return state_ == State::kHolding; }
  bool released() const { return state_ == State::kPassing; }

 private:
  enum class State { kLooking, kHolding, kPassing, kBroken };
  std::string TakeUpTo(std::uint64_t offset);

  std::size_t max_data_bytes_;
  State state_ = State::kLooking;
  WsFrameReader up_;
  WsFrameReader down_;
  std::string pending_;  // client bytes not sent on, from stream offset pending_from_
  std::uint64_t pending_from_ = 0;
  std::string inject_;  // the door's frames waiting for a boundary in the service's stream
  bool down_broken_ = false;
};

// The door's own messages in Gradio 3's words: its queue position (Gradio shows "rank/size"),
// and a failed event whose error the page shows.
std::string GradioWsEstimation(std::int64_t rank, std::int64_t queue_size);
std::string GradioWsFailure(std::string_view error);

}  // namespace vg
