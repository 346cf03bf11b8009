#include "cli/completion.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

std::vector<CompletionCommand> Table() {
  return {
      {.name = "ps",
       .help = "Every process holding VRAM",
       .options = {{.names = {"--json"}, .help = "One JSON document"}}},
      {.name = "reap",
       .help = "Kill: exactly [those] who hold it",
       .options = {{.names = {"--grace"}, .help = "Wait this long", .takes_value = true},
                   {.names = {"--yes", "-y"}, .help = "Do not ask"}}},
      {.name = "explain", .help = "Find OOMs in a log file", .takes_file = true},
  };
}

TEST(Completion, BashListsEveryCommandAndEachCommandsOptions) {
  auto s = CompletionScript("bash", Table());
  ASSERT_TRUE(s.has_value());
  EXPECT_NE(s->find("compgen -W 'ps reap explain --help --version'"), std::string::npos) << *s;
  EXPECT_NE(s->find("reap) opts='--grace --yes -y --help' ;;"), std::string::npos) << *s;
  // A value option falls back to file names.
  EXPECT_NE(s->find("reap:--grace) return 0 ;;"), std::string::npos) << *s;
  EXPECT_NE(s->find("complete -o default -F _vramguard vramguard"), std::string::npos);
}

TEST(Completion, ZshEscapesWhatItsSpecsGiveAMeaning) {
  auto s = CompletionScript("zsh", Table());
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->starts_with("#compdef vramguard\n"));
  EXPECT_NE(s->find(R"('reap:Kill\: exactly \[those\] who hold it')"), std::string::npos) << *s;
  EXPECT_NE(s->find("'--grace[Wait this long]:value:_files'"), std::string::npos) << *s;
  EXPECT_NE(s->find("explain) _arguments -s '*:file:_files' ;;"), std::string::npos) << *s;
}

TEST(Completion, FishNamesLongAndShortOptionsAndQuotesHelp) {
  auto s = CompletionScript("fish", Table());
  ASSERT_TRUE(s.has_value());
  EXPECT_NE(s->find("-n __fish_use_subcommand -a reap -d 'Kill: exactly [those] who hold it'"),
            std::string::npos)
      << *s;
  EXPECT_NE(s->find("'__fish_seen_subcommand_from reap' -l yes -s y -d 'Do not ask'"),
            std::string::npos)
      << *s;
  EXPECT_NE(s->find("'__fish_seen_subcommand_from reap' -l grace -r -F"), std::string::npos);
  EXPECT_NE(s->find("'__fish_seen_subcommand_from explain' -F"), std::string::npos);
}

std::vector<CompletionCommand> WithChoices() {
  return {{.name = "init",
           .help = "A starter config",
           .options = {{.names = {"--template"},
                        .help = "A service",
                        .takes_value = true,
                        .choices = {"comfyui", "gradio", "llm"}}}},
          {.name = "completion", .help = "The script", .arg_choices = {"bash", "zsh", "fish"}}};
}

TEST(Completion, EachShellOffersAnOptionsOrAnArgumentsFewValues) {
  auto bash = CompletionScript("bash", WithChoices());
  ASSERT_TRUE(bash.has_value());
  EXPECT_NE(bash->find("init:--template) words='comfyui gradio llm' ;;"), std::string::npos)
      << *bash;
  EXPECT_NE(bash->find("completion) opts='--help' args='bash zsh fish' ;;"), std::string::npos)
      << *bash;
  auto zsh = CompletionScript("zsh", WithChoices());
  ASSERT_TRUE(zsh.has_value());
  EXPECT_NE(zsh->find("'--template[A service]:value:(comfyui gradio llm)'"), std::string::npos)
      << *zsh;
  EXPECT_NE(zsh->find("'1:value:(bash zsh fish)'"), std::string::npos) << *zsh;
  auto fish = CompletionScript("fish", WithChoices());
  ASSERT_TRUE(fish.has_value());
  EXPECT_NE(fish->find("-l template -r -f -a 'comfyui gradio llm'"), std::string::npos) << *fish;
  EXPECT_NE(fish->find("'__fish_seen_subcommand_from completion' -a 'bash zsh fish'"),
            std::string::npos)
      << *fish;
}

TEST(Completion, QuotesASingleQuoteInHelp) {
  auto s = CompletionScript("fish", {{.name = "x", .help = "the daemon's view"}});
  ASSERT_TRUE(s.has_value());
  EXPECT_NE(s->find(R"(-d 'the daemon'\''s view')"), std::string::npos) << *s;
}

TEST(Completion, UnknownShellNamesTheThree) {
  auto s = CompletionScript("tcsh", Table());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, "no completion for shell 'tcsh'");
  EXPECT_EQ(s.error().hint, "choose bash, zsh or fish");
}

}  // namespace
}  // namespace vg
