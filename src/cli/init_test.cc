#include "cli/init.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace vg {
namespace {

GpuSnapshot TwoGpus() {
  GpuSnapshot s;
  s.driver_version = "550.54";
  GpuInfo g;
  g.index = 0;
  g.name = "NVIDIA GeForce RTX 4090";
  g.uuid = "GPU-aaaa";
  g.total = Bytes(24ULL << 30);
  s.gpus.push_back(g);
  g.index = 1;
  g.uuid = "GPU-bbbb";
  s.gpus.push_back(g);
  return s;
}

std::string Parsed(const std::string& text) {
  ConfigResult c = ParseConfig(text, "/tmp/vramguard-init-test/vramguard.toml");
  if (c) return "";
  std::string out;
  for (const ConfigDiagnostic& d : c.error()) out += d.ToString() + "\n";
  return out + "in:\n" + text;
}

TEST(Init, EveryTemplateParsesWithAndWithoutGpus) {
  const GpuSnapshot gpus = TwoGpus();
  for (const char* t : {"", "comfyui", "gradio", "llama-server", "vllm", "llm"}) {
    for (const GpuSnapshot* snap : {&gpus, static_cast<const GpuSnapshot*>(nullptr)}) {
      auto text = StarterConfig(t, snap, "no NVIDIA driver found");
      ASSERT_TRUE(text.has_value()) << t;
      EXPECT_EQ(Parsed(*text), "") << "template '" << t << "'";
    }
  }
}

TEST(Init, NamesTheGpusFoundOrWhyThereAreNone) {
  const GpuSnapshot gpus = TwoGpus();
  auto text = StarterConfig("", &gpus, "");
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find("#   0  NVIDIA GeForce RTX 4090  24.0 GiB  GPU-aaaa\n"), std::string::npos)
      << *text;
  EXPECT_NE(text->find("#   1  NVIDIA GeForce RTX 4090  24.0 GiB  GPU-bbbb\n"), std::string::npos);
  text = StarterConfig("", nullptr, "no NVIDIA driver found (libnvidia-ml.so.1)");
  EXPECT_NE(text->find("# GPUs: none found (no NVIDIA driver found (libnvidia-ml.so.1)).\n"),
            std::string::npos)
      << *text;
}

TEST(Init, TheSkeletonHasItsServiceCommentedAndEveryCommonKey) {
  auto text = StarterConfig("", nullptr, "");
  ASSERT_TRUE(text.has_value());
  ConfigResult c = ParseConfig(*text, "/tmp/x/vramguard.toml");
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->services.empty());
  for (const char* key : {"# name = ", "# command = ", "# gpus = ", "# vram = ", "# port = ",
                          "# ready = ", "# liveness = ", "# stop = ", "# restart = ", "# on_oom = ",
                          "# [service.proxy]", "# listen = "}) {
    EXPECT_NE(text->find(key), std::string::npos) << key;
  }
}

TEST(Init, TemplatesHaveTheirHealthPathsAndAProxy) {
  const GpuSnapshot gpus = TwoGpus();
  struct Case {
    const char* name;
    const char* service;
    const char* health;
    int listen_port;
  };
  for (const Case& t : {Case{"comfyui", "comfyui", "/system_stats", 8188},
                        Case{"gradio", "webui", "Running on local URL", 7860},
                        Case{"llm", "llm", "/health", 8000}}) {
    auto text = StarterConfig(t.name, &gpus, "");
    ASSERT_TRUE(text.has_value());
    ConfigResult c = ParseConfig(*text, "/tmp/x/vramguard.toml");
    ASSERT_TRUE(c.has_value()) << Parsed(*text);
    ASSERT_EQ(c->services.size(), 1u) << t.name;
    EXPECT_EQ(c->services[0].name, t.service);
    EXPECT_NE(text->find(t.health), std::string::npos) << t.name;
    EXPECT_NE(text->find(fmt::format("listen = \"0.0.0.0:{}\"", t.listen_port)), std::string::npos)
        << t.name;
    EXPECT_TRUE(c->services[0].proxy.enabled) << t.name;
  }
}

TEST(Init, TheLlmTemplateSizesVllmFromTheGpu) {
  const GpuSnapshot gpus = TwoGpus();
  auto text = StarterConfig("llm", &gpus, "");
  ASSERT_TRUE(text.has_value());
  // 0.85 × 24 GiB = 20.4 GiB: whole GiB, rounded down.
  EXPECT_NE(text->find("vram = \"20GiB\""), std::string::npos) << *text;
}

TEST(Init, AnUnknownTemplateNamesTheChoices) {
  auto text = StarterConfig("a1111", nullptr, "");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(text.error().message, "--template: no template 'a1111'");
  EXPECT_EQ(text.error().hint,
            "choose comfyui, gradio, llama-server or vllm (or none for a skeleton)");
}

// The templates' routes take a real client's request apart: an OpenAI chat completion, an
// AUTOMATIC1111 txt2img call.
TEST(Init, TemplateRoutesReadRealRequests) {
  auto route_of = [](const char* t) {
    auto text = StarterConfig(t, nullptr, "");
    EXPECT_TRUE(text.has_value());
    ConfigResult c = ParseConfig(*text, "/tmp/vramguard-init-test/vramguard.toml");
    EXPECT_TRUE(c.has_value());
    EXPECT_FALSE(c->services.at(0).proxy.routes.empty()) << t;
    return c->services.at(0).proxy.routes;
  };
  for (const char* t : {"vllm", "llama-server"}) {
    auto routes = route_of(t);
    const DoorRoute* chat = MatchDoorRoute(routes, "POST", "/v1/chat/completions");
    ASSERT_NE(chat, nullptr) << t;
    EXPECT_EQ(chat->protocol, DoorProtocol::kOpenAi);
    auto x = ExtractDoorParams(*chat, R"({"model": "m", "stream": true, "max_tokens": 300,
        "messages": [{"role": "user", "content": "Write a haiku about GPUs."}]})");
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ(x->params, nlohmann::json({{"prompt_tokens", 7}, {"max_tokens", 300}}));
  }
  auto routes = route_of("gradio");
  const DoorRoute* txt2img = MatchDoorRoute(routes, "POST", "/sdapi/v1/txt2img");
  ASSERT_NE(txt2img, nullptr);
  auto x = ExtractDoorParams(*txt2img, R"({"prompt": "a cat", "width": 768, "height": 512,
      "batch_size": 2, "steps": 20})");
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->params, nlohmann::json({{"width", 768}, {"height", 512}, {"batch", 2}}));
}

}  // namespace
}  // namespace vg
