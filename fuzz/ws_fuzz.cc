// libFuzzer target: WebSocket frames (core/ws_frames.h) and Gradio 3's queue as the door follows
// it (core/gradio_ws.h) — both directions of a tunnel are bytes a client or a service controls.
// Input: a byte choosing the direction and the piece size, then the stream. Properties: the
// reader never settles past what it was fed, every message lies within the stream and keeps at
// most its bounds; the follower loses and invents no client byte (what it forwarded is a prefix of
// the input, and with what it releases once it holds the data message, all of it) and adds to the
// service's bytes only the door's own frames.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.h"
#include "core/gradio_ws.h"
#include "core/ws_frames.h"

namespace {
using vg_fuzz::Check;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t piece = 1 + (mode >> 2);  // 1..64 bytes at a time
  const bool masked = (mode & 1) != 0;
  constexpr std::size_t kKeep = 256;

  vg::WsFrameReader reader(masked, kKeep);
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    vg::WsFrameReader::Fed fed = reader.Feed(stream.substr(at, piece));
    Check(reader.settled() <= reader.fed());
    Check(reader.fed() == std::min(stream.size(), at + piece));
    for (const vg::WsMessage& m : fed.messages) {
      Check(m.opcode != vg::WsOpcode::kContinuation);
      Check(m.begin < m.end && m.end <= reader.fed());
      Check(m.head.size() <= kKeep && m.tail.size() <= vg::kWsTailBytes);
      Check(m.head.size() <= m.size && m.tail.size() <= m.size);
    }
    if (fed.error) Check(reader.failed() && !fed.error->empty());
  }

  vg::GradioWsFollower follower(kKeep);
  if ((mode & 2) != 0) {  // the client's direction
    std::string forwarded;
    bool error = false;
    for (std::size_t at = 0; at < stream.size() && !error; at += piece) {
      vg::GradioWsFollower::Up up = follower.FromClient(stream.substr(at, piece));
      forwarded += up.forward;
      error = up.error.has_value();
      if (up.data) Check(up.data->size() <= kKeep);
    }
    // Held (the data message came): all of it is accounted for; else what went is a prefix
    // and the rest (a frame not complete yet) waits.
    if (!error && follower.holding()) Check(forwarded + follower.Release() == stream);
    if (!error) Check(stream.substr(0, forwarded.size()) == forwarded);
  } else {  // the service's direction, with a frame of the door's own put in now and then
    std::string forwarded;
    std::string injected;
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      vg::GradioWsFollower::Down down = follower.FromService(stream.substr(at, piece));
      forwarded += down.forward;
      if (at % (4 * piece) == 0) forwarded += follower.Inject(vg::WsTextFrame("{}"));
    }
    Check(forwarded.size() >= stream.size());
    Check((forwarded.size() - stream.size()) % vg::WsTextFrame("{}").size() == 0);
  }
  return 0;
}
