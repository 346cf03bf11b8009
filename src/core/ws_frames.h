// WebSocket frames (RFC 6455 §5) as the front door reads one direction of a tunnel it looks into
// (Gradio 3's queue, docs/proxy.md "Gradio 3's WebSocket queue"), and the few frames it writes.
//
// Pure and bounded: WsFrameReader takes the bytes of one direction in pieces of any size and
// gives back each message it completes — text and binary messages reassembled from their
// fragments and unmasked, control frames (close, ping, pong) each as its own message. Of a
// message it keeps at most `keep` bytes from the start and kWsTailBytes from the end (the size
// says how much there was), so its memory does not depend on what a side sends. It tracks stream
// offsets, so a caller can hold back or release a message's exact bytes.
//
// A violation (reserved bits or opcodes — the door strips Sec-WebSocket-Extensions, so no
// extension may set them —, a masked frame where none may be or the reverse, a control frame
// fragmented or over 125 bytes, a continuation with no message open or a new message inside
// one, a 64-bit length with its top bit set) is an error, and the reader stays failed: the rest
// of that stream cannot be followed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vg {

inline constexpr std::size_t kWsTailBytes = 64;

enum class WsOpcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

struct WsMessage {
  WsOpcode opcode = WsOpcode::kText;  // never kContinuation
  std::string head;                   // the first `keep` bytes of the payload, unmasked
  std::string tail;                   // the last kWsTailBytes bytes (all of it when shorter)
  std::uint64_t size = 0;             // the whole payload's size
  std::uint64_t begin = 0;            // stream offset of its first frame's first byte
  std::uint64_t end = 0;              // stream offset just past its last frame

  bool truncated() const { return size > head.size(); }
};

class WsFrameReader {
 public:
  // `masked`: frames of this direction must be masked (client → server) or must not be.
  WsFrameReader(bool masked, std::size_t keep);

  // The messages the piece completes, in stream order; an error message once the stream broke
  // the protocol (then and for every later call).
  struct Fed {
    std::vector<WsMessage> messages;
    std::optional<std::string> error;
  };
  Fed Feed(std::string_view piece);

  std::uint64_t fed() const { return fed_; }
  // The first stream offset not yet part of a complete message: the start of a partial frame or
  // of a fragmented message still open; fed() when neither.
  std::uint64_t settled() const;
  // Nothing partial: a frame may be inserted into the stream here.
  bool at_boundary() const { return settled() == fed_; }
  bool failed() const { return error_.has_value(); }

 private:
  bool Header(std::string& error);
  void Payload(std::string_view bytes);
  void FinishFrame(std::vector<WsMessage>& out);

  bool masked_;
  std::size_t keep_;
  std::uint64_t fed_ = 0;
  std::optional<std::string> error_;
  // The frame being read.
  std::string header_;  // its header bytes so far (at most 14)
  bool in_payload_ = false;
  std::uint64_t frame_begin_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t payload_seen_ = 0;  // of this frame (for the mask's position)
  std::uint8_t mask_[4] = {0, 0, 0, 0};
  bool fin_ = false;
  WsOpcode frame_opcode_ = WsOpcode::kText;
  // The data message being assembled, and a control frame being read inside it.
  std::optional<WsMessage> message_;
  std::optional<WsMessage> control_;
};

// An unmasked (server → client) frame: a whole text message, a close with its code and reason
// (at most 123 bytes of it).
std::string WsTextFrame(std::string_view text);
std::string WsCloseFrame(std::uint16_t code, std::string_view reason);

}  // namespace vg
