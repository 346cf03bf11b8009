#include "proc/ports.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vg {
namespace {

constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 0100007F:1EB4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "4242 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:1EB4 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 "
    "5151 1 0000000000000000 20 4 30 10 -1\n"
    "   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "777 1 0000000000000000 100 0 0 10 0\n";

TEST(ProcPorts, ParsesOnlyListenersOnThePort) {
  EXPECT_EQ(ParseListenInodes(kTcp, 7860), std::vector<std::uint64_t>{4242});  // 0x1EB4 = 7860
  EXPECT_EQ(ParseListenInodes(kTcp, 8080), std::vector<std::uint64_t>{777});
  EXPECT_TRUE(ParseListenInodes(kTcp, 9999).empty());
}

TEST(ProcPorts, FindsThisProcessListening) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(s, 1), 0);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  auto found = FindPortListeners(port);
  ASSERT_TRUE(found.has_value());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].pid, getpid());
  close(s);
  EXPECT_TRUE(FindPortListeners(port)->empty());
}

}  // namespace
}  // namespace vg
