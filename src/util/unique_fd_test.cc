#include "util/unique_fd.h"

#include <fcntl.h>

#include <gtest/gtest.h>

namespace vg {
namespace {

bool Open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnceWhenItGoes) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    UniqueFd moved(std::move(fd));
    EXPECT_FALSE(fd.ok());
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_FALSE(Open(raw));
}

TEST(UniqueFd, ReleaseGivesItUp) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.Release(), raw);
  }
  EXPECT_TRUE(Open(raw));
  ::close(raw);
}

}  // namespace
}  // namespace vg
