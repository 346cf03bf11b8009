#include "core/gradio_ws.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace vg {
namespace {

std::string Masked(const std::string& payload, bool fin = true, std::uint8_t opcode = 0x1) {
  std::string f(1, static_cast<char>((fin ? 0x80 : 0) | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  }
  const char key[4] = {'\x5a', '\x01', '\x7f', '\x33'};
  f.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

const std::string kHash = R"({"fn_index": 0, "session_hash": "s1"})";
const std::string kData =
    R"({"data": [768, 24, 4], "event_data": null, "fn_index": 0, "session_hash": "s1"})";

TEST(GradioWs, PassesTheHashHoldsTheDataMessageExactlyAndReleasesIt) {
  GradioWsFollower f(1 << 20);
  const std::string hash = Masked(kHash);
  const std::string data = Masked(kData);
  const std::string ping = Masked("", true, 0x9);
  // The hash message and the first half of the data frame in one piece.
  auto up = f.FromClient(hash + data.substr(0, 10));
  EXPECT_FALSE(up.error);
  EXPECT_EQ(up.forward, hash);  // the partial frame waits: it may be the data
  EXPECT_FALSE(up.data);
  up = f.FromClient(data.substr(10) + ping);
  ASSERT_TRUE(up.data);
  EXPECT_EQ(nlohmann::json::parse(*up.data)["data"][0], 768);
  EXPECT_EQ(up.forward, "");
  EXPECT_TRUE(f.holding());
  up = f.FromClient("more");  // held behind it, in order
  EXPECT_EQ(up.forward, "");
  EXPECT_EQ(f.Release(), data + ping + "more");
  EXPECT_TRUE(f.released());
  EXPECT_EQ(f.FromClient("after").forward, "after");
  EXPECT_EQ(f.Release(), "");  // once
}

TEST(GradioWs, ServiceMessagesPassAndProcessCompletedIsSeenThroughALargeOutput) {
  GradioWsFollower f(1 << 20);
  std::string output(200'000, 'b');  // an image as base64
  const std::string done =
      WsTextFrame(R"({"msg": "process_completed", "output": {"data": [")" + output +
                  R"("], "is_generating": false}, "success": false})");
  const std::string stream =
      WsTextFrame(R"({"msg": "send_hash"})") + WsTextFrame(R"({"msg": "send_data"})") + done;
  std::string out;
  std::optional<bool> completed;
  bool asked = false;
  for (std::size_t at = 0; at < stream.size(); at += 4096) {
    auto down = f.FromService(std::string_view(stream).substr(at, 4096));
    out += down.forward;
    if (down.completed) completed = down.completed;
    asked = asked || down.asked_for_data;
  }
  EXPECT_EQ(out, stream);
  EXPECT_TRUE(asked);
  ASSERT_TRUE(completed);
  EXPECT_FALSE(*completed);  // "success" comes after the output
}

TEST(GradioWs, TheDoorsFramesGoBetweenTheServicesNeverInside) {
  GradioWsFollower f(1 << 20);
  const std::string frame = WsTextFrame(R"({"msg": "estimation", "rank": 0})");
  const std::string mine = WsTextFrame(GradioWsEstimation(2, 3));
  EXPECT_EQ(f.FromService(frame.substr(0, 5)).forward, frame.substr(0, 5));
  EXPECT_EQ(f.Inject(mine), "");  // inside the service's frame: it waits
  EXPECT_EQ(f.FromService(frame.substr(5)).forward, frame.substr(5) + mine);
  EXPECT_EQ(f.Inject(mine), mine);  // at a boundary: at once
  auto j = nlohmann::json::parse(GradioWsEstimation(2, 3));
  EXPECT_EQ(j["msg"], "estimation");
  EXPECT_EQ(j["rank"], 2);
  EXPECT_EQ(j["queue_size"], 3);
  auto failure = nlohmann::json::parse(GradioWsFailure("needs 90 GiB"));
  EXPECT_EQ(failure["msg"], "process_completed");
  EXPECT_EQ(failure["success"], false);
  EXPECT_EQ(failure["output"]["error"], "needs 90 GiB");
}

TEST(GradioWs, ADataMessageOverTheLimitIsAnError) {
  GradioWsFollower f(100);
  auto up = f.FromClient(Masked(R"({"data": [")" + std::string(200, 'i') + R"("]})"));
  ASSERT_TRUE(up.error);
  EXPECT_NE(up.error->find("larger than the door reads"), std::string::npos) << *up.error;
  EXPECT_FALSE(up.data);
  EXPECT_EQ(up.forward, "");  // nothing of it reached the service
}

TEST(GradioWs, AStreamThatBreaksTheProtocolIsAnError) {
  GradioWsFollower f(1 << 20);
  auto up = f.FromClient(std::string("\x81\x03", 2) + "abc");  // a client frame without a mask
  ASSERT_TRUE(up.error);
  EXPECT_NE(up.error->find("not masked"), std::string::npos);
  // The service's side: a broken stream still passes, the door stops adding frames to it.
  auto down = f.FromService(std::string("\xC1\x01x", 3));
  EXPECT_TRUE(down.error);
  EXPECT_EQ(down.forward, std::string("\xC1\x01x", 3));
  EXPECT_EQ(f.Inject(WsTextFrame("{}")), "");
}

TEST(GradioWs, WhileHeldTheClientCannotSendWithoutBound) {
  GradioWsFollower f(64);
  ASSERT_TRUE(f.FromClient(Masked(R"({"data": [1]})")).data);
  auto up = f.FromClient(std::string(64 + 4096, 'x'));
  EXPECT_TRUE(up.error);
}

}  // namespace
}  // namespace vg
