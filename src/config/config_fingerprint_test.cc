#include <gtest/gtest.h>

#include "config/config.h"

namespace vg {
namespace {

constexpr std::string_view kTwo = R"([[service]]
name = "a"
command = ["python", "a.py"]
env = { X = "1" }
gpus = [0]
vram = "4GiB"
port = 7000

[[service]]
name = "b"
command = ["b"]
)";

std::string FingerprintOf(std::string_view text, std::string_view name) {
  ConfigResult c = ParseConfig(text, "/etc/v.toml");
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().front().ToString());
  if (!c || c->Find(name) == nullptr) return "";
  return c->Find(name)->Fingerprint();
}

std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string s(text);
  std::size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(ConfigFingerprint, IsStableAndHex) {
  std::string f = FingerprintOf(kTwo, "a");
  EXPECT_EQ(f.size(), 16u);
  EXPECT_EQ(f.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(f, FingerprintOf(kTwo, "a"));
  EXPECT_NE(f, FingerprintOf(kTwo, "b"));
}

TEST(ConfigFingerprint, ChangesWithWhatNeedsARestart) {
  std::string base = FingerprintOf(kTwo, "a");
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "\"a.py\"", "\"a.py\", \"--fast\""), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "X = \"1\"", "X = \"2\""), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "X = \"1\"", "X = \"1\", Y = \"\""), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "\"4GiB\"", "\"5GiB\""), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "gpus = [0]", "gpus = [1]"), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "port = 7000", "port = 7001"), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "port = 7000", "port = 7000\ncwd = \"/srv\""), "a"));
  EXPECT_NE(base, FingerprintOf(Replace(kTwo, "port = 7000", "port = 7000\nready = { tcp = 7000 }"),
                                "a"));
  // Moving text between fields must not collide: ["ab"] vs ["a", "b"].
  EXPECT_NE(FingerprintOf(Replace(kTwo, "[\"b\"]", "[\"ab\"]"), "b"),
            FingerprintOf(Replace(kTwo, "[\"b\"]", "[\"a\", \"b\"]"), "b"));
}

TEST(ConfigFingerprint, IgnoresWhatAppliesWithoutARestart) {
  std::string base = FingerprintOf(kTwo, "a");
  EXPECT_EQ(base, FingerprintOf(Replace(kTwo, "port = 7000",
                                        "port = 7000\nautostart = false\nlogs = { keep = 2 }\n"
                                        "restart = \"always\"\nstop = { grace = \"1s\" }"),
                                "a"));
  // A different file position (a comment above) is not a change either.
  EXPECT_EQ(base, FingerprintOf("# comment\n\n" + std::string(kTwo), "a"));
}

TEST(ConfigFingerprint, UnaffectedByOtherServicesAndTheirOrder) {
  std::string a = FingerprintOf(kTwo, "a");
  std::string b = FingerprintOf(kTwo, "b");
  // b first, then a; b changed.
  std::string swapped = R"([[service]]
name = "b"
command = ["b", "--changed"]

[[service]]
name = "a"
command = ["python", "a.py"]
env = { X = "1" }
gpus = [0]
vram = "4GiB"
port = 7000
)";
  EXPECT_EQ(a, FingerprintOf(swapped, "a"));
  EXPECT_NE(b, FingerprintOf(swapped, "b"));
}

}  // namespace
}  // namespace vg
