#include "core/ws_frames.h"

#include <gtest/gtest.h>

#include <string>

namespace vg {
namespace {

// A client's frame: masked with `mask`, FIN as given.
std::string Masked(std::uint8_t opcode, const std::string& payload, bool fin = true,
                   std::uint32_t mask = 0x11223344) {
  std::string f(1, static_cast<char>((fin ? 0x80 : 0) | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF));
  }
  const std::uint8_t key[4] = {
      static_cast<std::uint8_t>(mask >> 24), static_cast<std::uint8_t>(mask >> 16),
      static_cast<std::uint8_t>(mask >> 8), static_cast<std::uint8_t>(mask)};
  for (std::uint8_t k : key) f.push_back(static_cast<char>(k));
  for (std::size_t i = 0; i < n; ++i)
    f.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i % 4]));
  return f;
}

TEST(WsFrames, ReassemblesFragmentsFedOneByteAtATimeWithControlFramesBetween) {
  const std::string stream = Masked(0x1, "{\"data\":", false) + Masked(0x9, "p") +
                             Masked(0x0, " [512, 16]}", true) + Masked(0x8, "\x03\xe8");
  WsFrameReader reader(/*masked=*/true, 1024);
  std::vector<WsMessage> got;
  for (char c : stream) {
    auto fed = reader.Feed(std::string_view(&c, 1));
    ASSERT_FALSE(fed.error) << *fed.error;
    for (auto& m : fed.messages) got.push_back(m);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].opcode, WsOpcode::kPing);  // completes first, inside the text message
  EXPECT_EQ(got[0].head, "p");
  EXPECT_EQ(got[1].opcode, WsOpcode::kText);
  EXPECT_EQ(got[1].head, "{\"data\": [512, 16]}");
  EXPECT_EQ(got[1].size, got[1].head.size());
  EXPECT_EQ(got[1].begin, 0u);  // its first fragment's first byte
  EXPECT_EQ(got[2].opcode, WsOpcode::kClose);
  EXPECT_EQ(got[2].end, stream.size());
  EXPECT_EQ(got[1].end, got[2].begin);
  EXPECT_TRUE(reader.at_boundary());
}

TEST(WsFrames, SettledStopsAtAnOpenMessageAndAPartialFrame) {
  WsFrameReader reader(true, 1024);
  const std::string first = Masked(0x1, "one");
  const std::string second = Masked(0x1, "two-", false);
  reader.Feed(first);
  EXPECT_EQ(reader.settled(), first.size());
  reader.Feed(second);  // a fragmented message is open: nothing of it is settled
  EXPECT_EQ(reader.settled(), first.size());
  EXPECT_FALSE(reader.at_boundary());
  const std::string third = Masked(0x0, "2");
  reader.Feed(third.substr(0, 3));  // half a frame
  EXPECT_EQ(reader.settled(), first.size());
  auto fed = reader.Feed(third.substr(3));
  ASSERT_EQ(fed.messages.size(), 1u);
  EXPECT_EQ(fed.messages[0].head, "two-2");
  EXPECT_TRUE(reader.at_boundary());
}

TEST(WsFrames, KeepsAHeadAndATailOfALargeMessage) {
  std::string payload(70'000, 'x');
  payload.replace(0, 5, "start");
  payload.replace(payload.size() - 3, 3, "end");
  const std::string frame = Masked(0x1, payload);  // a 16-bit length
  WsFrameReader reader(true, 100);
  std::vector<WsMessage> got;
  for (std::size_t at = 0; at < frame.size(); at += 999) {
    for (auto& m : reader.Feed(std::string_view(frame).substr(at, 999)).messages) got.push_back(m);
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].truncated());
  EXPECT_EQ(got[0].size, payload.size());
  EXPECT_EQ(got[0].head, payload.substr(0, 100));
  EXPECT_EQ(got[0].tail, payload.substr(payload.size() - kWsTailBytes));
}

TEST(WsFrames, SixtyFourBitLengthAndServerFramesRoundTrip) {
  const std::string big(70'000, 'y');
  const std::string frames = WsTextFrame("short") + WsTextFrame(std::string(300, 'z')) +
                             WsTextFrame(big) + WsCloseFrame(1000, "bye");
  WsFrameReader reader(/*masked=*/false, 1 << 20);
  auto fed = reader.Feed(frames);
  ASSERT_FALSE(fed.error);
  ASSERT_EQ(fed.messages.size(), 4u);
  EXPECT_EQ(fed.messages[0].head, "short");
  EXPECT_EQ(fed.messages[1].head, std::string(300, 'z'));
  EXPECT_EQ(fed.messages[2].head, big);
  EXPECT_EQ(fed.messages[3].opcode, WsOpcode::kClose);
  EXPECT_EQ(fed.messages[3].head, std::string("\x03\xe8") + "bye");
  // 65536 bytes and more take the 64-bit length.
  EXPECT_EQ(static_cast<unsigned char>(WsTextFrame(std::string(65536, 'a'))[1]), 127);
}

TEST(WsFrames, ProtocolViolationsFailTheStreamForGood) {
  struct Case {
    std::string bytes;
    bool masked;
    std::string error;
  };
  const Case cases[] = {
      {std::string("\xC1\x80\x00\x00\x00\x00", 6), true, "reserved bits"},  // RSV1: deflate
      {std::string("\x83\x80\x00\x00\x00\x00", 6), true, "unknown opcode 3"},
      {std::string("\x81\x01x", 3), true, "not masked"},
      {Masked(0x1, "x"), false, "is masked"},
      {Masked(0x9, "p", /*fin=*/false), true, "control frame"},
      {Masked(0x9, std::string(126, 'p')), true, "control frame"},
      {Masked(0x0, "x"), true, "no message open"},
      {Masked(0x1, "a", false) + Masked(0x1, "b"), true, "inside a fragmented"},
      {std::string("\x81\xFF\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 14), true,
       "top bit"},
  };
  for (const Case& c : cases) {
    WsFrameReader reader(c.masked, 1024);
    auto fed = reader.Feed(c.bytes);
    ASSERT_TRUE(fed.error) << c.error;
    EXPECT_NE(fed.error->find(c.error), std::string::npos) << *fed.error;
    EXPECT_TRUE(reader.failed());
    auto again = reader.Feed(Masked(0x1, "fine"));  // nothing is read after a violation
    EXPECT_TRUE(again.error);
    EXPECT_TRUE(again.messages.empty());
  }
}

TEST(WsFrames, CloseReasonIsCutToFitAControlFrame) {
  const std::string frame = WsCloseFrame(1009, std::string(500, 'r'));
  WsFrameReader reader(false, 1024);
  auto fed = reader.Feed(frame);
  ASSERT_FALSE(fed.error) << *fed.error;
  ASSERT_EQ(fed.messages.size(), 1u);
  EXPECT_EQ(fed.messages[0].size, 125u);
}

}  // namespace
}  // namespace vg
