#include "core/ws_frames.h"

#include <algorithm>

namespace vg {
namespace {

bool IsControl(WsOpcode op) { return static_cast<std::uint8_t>(op) >= 0x8; }

bool KnownOpcode(std::uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

// How many header bytes a frame whose first two bytes are `h` has.
std::size_t HeaderSize(const std::string& h) {
  const auto b1 = static_cast<std::uint8_t>(h[1]);
  const std::uint8_t len7 = b1 & 0x7F;
  const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return 2 + ext + ((b1 & 0x80) != 0 ? 4 : 0);
}

std::string FrameHead(std::uint8_t b0, std::size_t size) {
  std::string h(1, static_cast<char>(b0));
  if (size < 126) {
    h.push_back(static_cast<char>(size));
  } else if (size <= 0xFFFF) {
    h.push_back(static_cast<char>(126));
    h.push_back(static_cast<char>(size >> 8));
    h.push_back(static_cast<char>(size & 0xFF));
  } else {
    h.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      h.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF));
  }
  return h;
}

}  // namespace

WsFrameReader::WsFrameReader(bool masked, std::size_t keep) : masked_(masked), keep_(keep) {}

std::uint64_t WsFrameReader::settled() const {
  if (message_) return message_->begin;
  if (in_payload_ || !header_.empty()) return frame_begin_;
  return fed_;
}

WsFrameReader::Fed WsFrameReader::Feed(std::string_view piece) {
  Fed out;
  while (!piece.empty() && !error_) {
    if (!in_payload_) {
      if (header_.empty()) frame_begin_ = fed_;
      header_.push_back(piece.front());
      piece.remove_prefix(1);
      ++fed_;
      if (header_.size() < 2 || header_.size() < HeaderSize(header_)) continue;
      std::string why;
      if (!Header(why)) {
        error_ = std::move(why);
        break;
      }
      in_payload_ = true;
      if (remaining_ == 0) FinishFrame(out.messages);
      continue;
    }
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, piece.size()));
    Payload(piece.substr(0, n));
    piece.remove_prefix(n);
    fed_ += n;
    remaining_ -= n;
    if (remaining_ == 0) FinishFrame(out.messages);
  }
  fed_ += piece.size();  // after a failure: counted, not read
  out.error = error_;
  return out;
}

bool WsFrameReader::Header(std::string& error) {
  const auto b0 = static_cast<std::uint8_t>(header_[0]);
  const auto b1 = static_cast<std::uint8_t>(header_[1]);
  fin_ = (b0 & 0x80) != 0;
  const std::uint8_t op = b0 & 0x0F;
  if ((b0 & 0x70) != 0) {
    error = "a frame sets reserved bits (an extension nobody negotiated)";
    return false;
  }
  if (!KnownOpcode(op)) {
    error = "a frame has the unknown opcode " + std::to_string(op);
    return false;
  }
  frame_opcode_ = static_cast<WsOpcode>(op);
  const bool masked = (b1 & 0x80) != 0;
  if (masked != masked_) {
    error = masked_ ? "a client frame is not masked" : "a server frame is masked";
    return false;
  }
  std::uint64_t length = b1 & 0x7F;
  std::size_t at = 2;
  if (length == 126) {
    length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(header_[2])) << 8) |
             static_cast<std::uint8_t>(header_[3]);
    at = 4;
  } else if (length == 127) {
    length = 0;
    for (std::size_t i = 2; i < 10; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(header_[i]);
    at = 10;
    if ((length >> 63) != 0) {
      error = "a frame's 64-bit length has its top bit set";
      return false;
    }
  }
  if (masked) {
    for (std::size_t i = 0; i < 4; ++i) mask_[i] = static_cast<std::uint8_t>(header_[at + i]);
  }
  if (IsControl(frame_opcode_)) {
    if (!fin_ || length > 125) {
      error = "a control frame is fragmented or longer than 125 bytes";
      return false;
    }
    control_ = WsMessage{.opcode = frame_opcode_, .begin = frame_begin_};
  } else if (frame_opcode_ == WsOpcode::kContinuation) {
    if (!message_) {
      error = "a continuation frame comes with no message open";
      return false;
    }
  } else {
    if (message_) {
      error = "a new message starts inside a fragmented one";
      return false;
    }
    message_ = WsMessage{.opcode = frame_opcode_, .begin = frame_begin_};
  }
  remaining_ = length;
  payload_seen_ = 0;
  return true;
}

void WsFrameReader::Payload(std::string_view bytes) {
  WsMessage& m = IsControl(frame_opcode_) ? *control_ : *message_;
  const std::size_t keep = IsControl(frame_opcode_) ? 125 : keep_;
  auto unmask = [&](std::size_t i) {
    const auto c = static_cast<std::uint8_t>(bytes[i]);
    return static_cast<char>(masked_ ? c ^ mask_[(payload_seen_ + i) % 4] : c);
  };
  const std::size_t to_head = std::min(bytes.size(), keep - std::min(keep, m.head.size()));
  for (std::size_t i = 0; i < to_head; ++i) m.head.push_back(unmask(i));
  const std::size_t tail_from = bytes.size() - std::min(bytes.size(), kWsTailBytes);
  for (std::size_t i = tail_from; i < bytes.size(); ++i) m.tail.push_back(unmask(i));
  if (m.tail.size() > kWsTailBytes) m.tail.erase(0, m.tail.size() - kWsTailBytes);
  m.size += bytes.size();
  payload_seen_ += bytes.size();
}

void WsFrameReader::FinishFrame(std::vector<WsMessage>& out) {
  in_payload_ = false;
  header_.clear();
  if (IsControl(frame_opcode_)) {
    control_->end = fed_;
    out.push_back(std::move(*control_));
    control_.reset();
  } else if (fin_) {
    message_->end = fed_;
    out.push_back(std::move(*message_));
    message_.reset();
  }
}

std::string WsTextFrame(std::string_view text) {
  return FrameHead(0x81, text.size()) + std::string(text);
}

std::string WsCloseFrame(std::uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.substr(0, 123));
  return FrameHead(0x88, payload.size()) + payload;
}

}  // namespace vg
