#include "core/gradio_ws.h"

#include <nlohmann/json.hpp>

#include "core/gradio_events.h"
#include "util/json_limits.h"
#include "util/units.h"

namespace vg {
namespace {

// Whether a client's text message is the data message ({"data": […], "fn_index", …}).
bool IsDataMessage(const std::string& text) {
  if (!JsonNestingWithin(text, kMaxJsonDepth)) return true;  // refused by the extraction
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() && j.contains("data");
}

}  // namespace

GradioWsFollower::GradioWsFollower(std::size_t max_data_bytes)
    : max_data_bytes_(max_data_bytes),
      up_(/*masked=*/true, max_data_bytes),
      down_(/*masked=*/false, kGradioLinePrefix) {}

std::string GradioWsFollower::TakeUpTo(std::uint64_t offset) {
  const std::size_t n = static_cast<std::size_t>(
      std::min<std::uint64_t>(offset - std::min(offset, pending_from_), pending_.size()));
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  pending_from_ += n;
  return out;
}

GradioWsFollower::Up GradioWsFollower::FromClient(std::string_view bytes) {
  Up up;
  switch (state_) {
    case State::kPassing:
    case State::kBroken:
      up.forward.assign(bytes);
      return up;
    case State::kHolding:
      if (pending_.size() + bytes.size() > max_data_bytes_ + kGradioLinePrefix) {
        up.error = "the client sent more than " + FormatBytes(Bytes(max_data_bytes_)) +
                   " while its event waited for VRAM";
        state_ = State::kBroken;
        return up;
      }
      pending_.append(bytes);
      return up;
    case State::kLooking:
      break;
  }
  pending_.append(bytes);
  WsFrameReader::Fed fed = up_.Feed(bytes);
  for (WsMessage& m : fed.messages) {
    if (m.opcode != WsOpcode::kText) continue;
    if (m.truncated()) {
      up.error = "the client's message is larger than the door reads (" +
                 FormatBytes(Bytes(max_data_bytes_)) + ")";
      state_ = State::kBroken;
      return up;
    }
    if (!IsDataMessage(m.head)) continue;
    up.forward = TakeUpTo(m.begin);
    up.data = std::move(m.head);
    state_ = State::kHolding;
    return up;
  }
  if (fed.error) {
    up.error = "the client's WebSocket stream cannot be followed: " + *fed.error;
    state_ = State::kBroken;
    return up;
  }
  up.forward = TakeUpTo(up_.settled());
  return up;
}

GradioWsFollower::Down GradioWsFollower::FromService(std::string_view bytes) {
  Down down;
  down.forward.assign(bytes);
  if (down_broken_) return down;
  WsFrameReader::Fed fed = down_.Feed(bytes);
  for (const WsMessage& m : fed.messages) {
    if (m.opcode != WsOpcode::kText) continue;
    std::optional<GradioEvent> e = GradioMessageEvent(m.head, m.tail);
    if (!e) continue;
    if (e->msg == "process_completed") down.completed = e->success.value_or(true);
    if (e->msg == "send_data") down.asked_for_data = true;
  }
  if (fed.error) {
    down_broken_ = true;
    down.error = "the service's WebSocket stream cannot be followed: " + *fed.error;
    inject_.clear();  // no boundary can be found any more
    return down;
  }
  if (!inject_.empty() && down_.at_boundary()) {
    down.forward += inject_;
    inject_.clear();
  }
  return down;
}

std::string GradioWsFollower::Release() {
  if (state_ != State::kHolding) return {};
  state_ = State::kPassing;
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

std::string GradioWsFollower::Inject(std::string_view frame) {
  if (down_broken_) return {};
  inject_ += frame;
  if (!down_.at_boundary()) return {};
  std::string out = std::move(inject_);
  inject_.clear();
  return out;
}

std::string GradioWsEstimation(std::int64_t rank, std::int64_t queue_size) {
  return nlohmann::json{{"msg", "estimation"},
                        {"rank", rank},
                        {"queue_size", queue_size},
                        {"avg_event_process_time", nullptr},
                        {"avg_event_concurrent_process_time", nullptr},
                        {"rank_eta", nullptr},
                        {"queue_eta", 0}}
      .dump();
}

std::string GradioWsFailure(std::string_view error) {
  return nlohmann::json{
      {"msg", "process_completed"}, {"output", {{"error", std::string(error)}}}, {"success", false}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace vg
