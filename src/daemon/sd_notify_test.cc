#include "daemon/sd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace vg {
namespace {

TEST(DaemonSdNotify, SendsDatagramsToNotifySocket) {
  std::string path =
      (std::filesystem::temp_directory_path() / ("vg-notify-" + std::to_string(getpid()) + ".sock"))
          .string();
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  SdNotifier n;
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_TRUE(n.enabled());
  ASSERT_TRUE(n.watchdog_interval().has_value());
  EXPECT_EQ(*n.watchdog_interval(), std::chrono::milliseconds(15000));
  n.Notify("READY=1\nSTATUS=1 service: 1 running");
  char buf[256] = {};
  ssize_t got = ::recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(got)),
            "READY=1\nSTATUS=1 service: 1 running");
  ::close(fd);
  ::unlink(path.c_str());
}

TEST(DaemonSdNotify, DisabledWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  SdNotifier n;
  EXPECT_FALSE(n.enabled());
  n.Notify("READY=1");  // a no-op, must not crash
}

}  // namespace
}  // namespace vg
