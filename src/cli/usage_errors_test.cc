#include "cli/usage_errors.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

UsageShape Shape() {
  UsageShape s;
  s.commands = {"gpus", "ps", "reap", "status", "start", "stop", "submit", "jobs"};
  s.options["ps"] = {{"--json", ""}, {"--all", ""}};
  s.options["submit"] = {{"--priority", "INT"}, {"--key", "TEXT"}, {"--json", ""}};
  return s;
}

TEST(UsageErrors, NoCommandListsThem) {
  EXPECT_EQ(UsageErrorLine(Shape(), "RequiredError", "A subcommand is required", {}),
            "say what to do: one of gpus, ps, reap, status, start, stop, submit, jobs; "
            "`vramguard --help` shows each command with an example");
}

TEST(UsageErrors, UnknownCommandSuggestsTheNearest) {
  EXPECT_EQ(UsageErrorLine(Shape(), "ExtrasError",
                           "The following argument was not expected: statsu", {"statsu"}),
            "unknown command 'statsu' (did you mean 'status'?); commands: gpus, ps, reap, "
            "status, start, stop, submit, jobs");
  EXPECT_EQ(UsageErrorLine(Shape(), "ExtrasError",
                           "The following argument was not expected: frobnicate", {"frobnicate"}),
            "unknown command 'frobnicate'; commands: gpus, ps, reap, status, start, stop, "
            "submit, jobs");
}

// CLI11 reports a word that is no command as "A subcommand is required".
TEST(UsageErrors, AWordThatIsNoCommandIsAnUnknownCommand) {
  EXPECT_EQ(UsageErrorLine(Shape(), "RequiredError", "A subcommand is required", {"statsu"}),
            "unknown command 'statsu' (did you mean 'status'?); commands: gpus, ps, reap, "
            "status, start, stop, submit, jobs");
}

// A subcommand's extras error carries the subcommand's name as its error name.
TEST(UsageErrors, UnknownOptionNamesTheCommand) {
  EXPECT_EQ(UsageErrorLine(Shape(), "ps", "The following argument was not expected: --jsno",
                           {"ps", "--jsno"}),
            "unknown option '--jsno' for `vramguard ps` (did you mean '--json'?); "
            "`vramguard ps --help` lists its options");
  EXPECT_EQ(UsageErrorLine(Shape(), "ExtrasError",
                           "The following argument was not expected: --jsno", {"ps", "--jsno"}),
            "unknown option '--jsno' for `vramguard ps` (did you mean '--json'?); "
            "`vramguard ps --help` lists its options");
}

TEST(UsageErrors, ABadNumberNamesTheOptionAndTheForm) {
  EXPECT_EQ(UsageErrorLine(Shape(), "ConversionError", "Could not convert: --priority = high",
                           {"submit", "i2v", "--priority", "high"}),
            "--priority: 'high' is not a whole number (e.g. --priority 10); "
            "`vramguard submit --help` lists its options");
}

TEST(UsageErrors, AnythingElseStaysOneLineWithTheHelpHint) {
  EXPECT_EQ(UsageErrorLine(Shape(), "ArgumentMismatch", "--grace: 1 required\nTEXT missing",
                           {"reap", "--grace"}),
            "--grace: 1 required TEXT missing; `vramguard reap --help` lists its options");
}

}  // namespace
}  // namespace vg
