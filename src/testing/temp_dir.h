// A directory made for one test and removed, with everything in it, when the test ends.
// Header-only and test-only (not part of the library).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace vg::testing {

class TempDir {
 public:
  // prefix: the directory name's start (a random suffix follows). in_memory: under /dev/shm when
  // it is writable and TEST_TMPDIR is not set (tests that build large fake trees stay off disk).
  explicit TempDir(std::string_view prefix = "vg_test_", bool in_memory = false) {
    std::string base = ::testing::TempDir();
    if (in_memory && std::getenv("TEST_TMPDIR") == nullptr &&
        ::access("/dev/shm", W_OK | X_OK) == 0) {
      base = "/dev/shm/";
    }
    std::string tmpl = base + std::string(prefix) + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
      return;
    }
    std::error_code ec;
    const std::filesystem::path canonical = std::filesystem::canonical(tmpl, ec);
    path_ = ec ? tmpl : canonical.string();
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty when the directory could not be made (the test has failed already).
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace vg::testing
