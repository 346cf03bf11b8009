#include "cli/init.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "gpu/nvml_probe.h"
#include "util/units.h"

namespace vg {
namespace {

std::string Header(const GpuSnapshot* snapshot, std::string_view no_gpu_reason) {
  std::string out = fmt::format(
      "# vramguard config, written by `vramguard init` (vramguard {}).\n"
      "# Every key: docs/config.md (`man vramguard` for the commands). Check this file with\n"
      "# `vramguard check-config FILE`; run it with `vramguard up --config FILE`, or put it where\n"
      "# the systemd unit reads it (/etc/vramguard/vramguard.toml; the user unit:\n"
      "# ~/.config/vramguard/vramguard.toml). The CLI finds that daemon with `--config FILE`.\n#\n",
      VRAMGUARD_VERSION);
  if (snapshot == nullptr || snapshot->gpus.empty()) {
    out += fmt::format("# GPUs: none found ({}).\n",
                       no_gpu_reason.empty() ? "the driver lists no GPU" : no_gpu_reason);
    return out;
  }
  out += "# GPUs found (`vramguard gpus`; a service's `gpus` names them by index or UUID):\n";
  for (const GpuInfo& g : snapshot->gpus) {
    out += fmt::format("#   {}  {}  {}  {}\n", g.index, g.name, FormatBytes(g.total), g.uuid);
  }
  return out;
}

const char* kDaemonAndGpu = R"(
[daemon]
# state_dir = "/var/lib/vramguard"   # default: root's; ~/.local/state/vramguard for other users
# socket = "/run/vramguard/vramguard.sock"   # default: root's; $XDG_RUNTIME_DIR/vramguard.sock
# http = "127.0.0.1:7861"            # the web dashboard and the API over TCP (off loopback: set a token)
# token_file = "/etc/vramguard/token"
# metrics = "127.0.0.1:9835"         # GET /metrics for Prometheus
# keep_services = false              # true: services keep running while the daemon restarts

[gpu]
reserve = "2GiB"                     # never plan into the last 2 GiB of a GPU
# poll = "100ms"                     # how often the driver is asked while a start waits for VRAM
)";

// The keys every service template shares, commented, after its own lines.
const char* kCommonServiceKeys =
    R"(# env = { PYTORCH_CUDA_ALLOC_CONF = "expandable_segments:True" }
# user = "ai"                        # run as this user (the daemon runs as root)
# autostart = true                   # false: only on `vramguard start NAME`
# vram_wait = "10m"                  # how long a start waits for its VRAM, then fails naming who holds it
# restart = { when = "on-failure", backoff = "1s..30s", limit = "5 in 10m" }
# on_sticky = "restart"              # illegal memory access & co.: restart or ignore
# oom_limit = "5 in 1h"              # OOM restarts allowed in that window
# logs = { max_size = "10MiB", keep = 5 }
# idle_unload = "30m"                # no jobs for 30 minutes: stop it and free its VRAM
)";

std::string GpusLine(const GpuSnapshot* snapshot) {
  if (snapshot == nullptr || snapshot->gpus.empty()) {
    return "# gpus = [0]                         # no GPU found when this file was written\n";
  }
  return "gpus = [0]                           # by index, or UUID; see the list above\n";
}

// vram needs gpus: commented out where there is none.
std::string VramLine(const GpuSnapshot* snapshot, std::string_view value,
                     std::string_view comment) {
  const bool gpu = snapshot != nullptr && !snapshot->gpus.empty();
  std::string line = fmt::format("{}vram = \"{}\"", gpu ? "" : "# ", value);
  line.resize(std::max<std::size_t>(line.size() + 1, 37), ' ');  // the comments' column
  return fmt::format("{}# {}\n", line, comment);
}

std::string Skeleton() {
  return R"(
# One [[service]] per GPU program; uncomment and fill in (or start again from
# `vramguard init --template comfyui|gradio|llama-server|vllm`).
# [[service]]
# name = "webui"
# command = ["python", "launch.py", "--port", "7860"]   # argv, no shell; command[0] from PATH or a path
# cwd = "/opt/webui"                 # default: this file's directory
# gpus = [0]                         # by index or UUID (see above); sets CUDA_VISIBLE_DEVICES
# vram = "10GiB"                     # must be free on each of gpus before a start: model + CUDA context
# port = 7860                        # must be free before a start
# ready = { http = "/", timeout = "180s" }   # or { log = "Running on local URL" } or { tcp = 7860 }
# liveness = { http = "/", interval = "10s", failures = 3 }
# stop = { grace = "10s" }           # TERM, 10 s, KILL, then the memory is verified back
# on_oom = "restart"                 # or "wait-for-vram", "ignore"
)" + std::string(kCommonServiceKeys) +
         R"(#
# [service.proxy]                    # the daemon in front of the service (docs/proxy.md)
# listen = "0.0.0.0:7860"            # clients use this; the service then listens elsewhere
# upstream_port = 17860              # default: the service's first port
)";
}

std::string ComfyUi(const GpuSnapshot* snapshot) {
  return "\n# ComfyUI (https://github.com/comfyanonymous/ComfyUI) on an internal port, reached\n"
         "# through the proxy on 8188 as before.\n"
         "[[service]]\n"
         "name = \"comfyui\"\n"
         "command = [\"python\", \"main.py\", \"--listen\", \"127.0.0.1\", \"--port\", \"18188\"]\n"
         "# command = [\"/opt/ComfyUI/venv/bin/python\", \"main.py\", \"--listen\", \"127.0.0.1\", "
         "\"--port\", \"18188\"]\n"
         "# cwd = \"/opt/ComfyUI\"              # where you cloned it (default: this file's "
         "directory)\n" +
         GpusLine(snapshot) +
         VramLine(snapshot, "4GiB", "what must be free to start; models load per workflow") +
         "port = 18188\n"
         "ready = { http = \"/system_stats\", timeout = \"300s\" }\n"
         "liveness = { http = \"/system_stats\", interval = \"15s\", failures = 3 }\n"
         "stop = { grace = \"15s\" }\n"
         "# ComfyUI's POST /free unloads models before the stop (it wants a JSON body: use a "
         "command):\n"
         "# stop = { grace = \"15s\", release = { command = [\"curl\", \"-s\", \"-X\", \"POST\", "
         "\"-d\", \"{\\\"unload_models\\\":true,\\\"free_memory\\\":true}\", "
         "\"http://127.0.0.1:18188/free\"] } }\n"
         "on_oom = \"ignore\"                    # ComfyUI reports the OOM and goes on with the "
         "next prompt\n" +
         kCommonServiceKeys +
         "\n[service.proxy]\n"
         "listen = \"0.0.0.0:8188\"              # browsers and API clients use this\n"
         "# upstream_port = 18188             # default: the service's port\n"
         "\n# Workflows as jobs, admitted by their size: a queued prompt's job runs until "
         "ComfyUI's\n# /history has it (docs/proxy.md, \"Engines that answer at once\"). Needs the "
         "service's job\n# interface first: [[service.param]] resolution and frames, "
         "[[service.sizing]] rows (docs/jobs.md).\n"
         "# [[service.proxy.route]]\n"
         "# match = \"POST /prompt\"             # the newer frontend posts /api/prompt: a second "
         "route\n"
         "# ends = \"comfyui-history\"\n"
         "# params = { resolution = \"/prompt/*/inputs/width\", frames = "
         "\"/prompt/*/inputs/length\" }\n";
}

std::string Gradio(const GpuSnapshot* snapshot) {
  return "\n# A Gradio WebUI (AUTOMATIC1111's stable-diffusion-webui, Forge, or any Gradio app) on "
         "an\n# internal port, reached through the proxy on 7860 as before.\n"
         "[[service]]\n"
         "name = \"webui\"\n"
         "command = [\"python\", \"launch.py\", \"--port\", \"17860\", \"--api\"]\n"
         "# command = [\"bash\", \"webui.sh\", \"--port\", \"17860\", \"--api\"]   # A1111/Forge's "
         "launcher\n"
         "# command = [\"python\", \"app.py\"]     # a plain Gradio app: GRADIO_SERVER_PORT in env "
         "below\n"
         "# cwd = \"/opt/stable-diffusion-webui\"   # where you cloned it (default: this file's "
         "directory)\n" +
         GpusLine(snapshot) +
         VramLine(snapshot, "6GiB", "the checkpoint loaded at start, with the CUDA context") +
         "port = 17860\n"
         "ready = { log = \"Running on local URL\", timeout = \"300s\" }   # Gradio's line once it "
         "serves\n"
         "liveness = { http = \"/\", interval = \"15s\", failures = 3 }\n"
         "stop = { grace = \"10s\" }\n"
         "on_oom = \"restart\"\n"
         "# env = { GRADIO_SERVER_PORT = \"17860\", GRADIO_SERVER_NAME = \"127.0.0.1\" }\n" +
         std::string(kCommonServiceKeys).substr(std::string(kCommonServiceKeys).find('\n') + 1) +
         "# AUTOMATIC1111/Forge's API (--api): a txt2img call is a job, admitted by its size "
         "(below).\n"
         "jobs = { endpoint = \"POST http://127.0.0.1:17860/sdapi/v1/txt2img\", concurrency = 1, "
         "max_payload = \"8MiB\" }\n"
         "\n[service.proxy]\n"
         "listen = \"0.0.0.0:7860\"              # browsers and API clients use this\n"
         "# upstream_port = 17860             # default: the service's port\n"
         "\n# Requests to the API are jobs (docs/proxy.md, \"Routes that are jobs\"): refused at "
         "once with\n# sizes that fit, or queued until they do.\n"
         "[[service.proxy.route]]\n"
         "match = \"POST /sdapi/v1/txt2img\"\n"
         "params = { width = \"/width\", height = \"/height\", batch = \"/batch_size\" }\n"
         "\n# The browser UI's own clicks go through Gradio's queue (4.x/5.x): a job too, once you "
         "know\n# where your app's inputs sit in \"data\" (the order of its components; `when` "
         "picks the\n# function). ends = \"gradio-queue\": the job lasts until the event's "
         "process_completed,\n# not just the join's answer.\n"
         "# [[service.proxy.route]]\n"
         "# match = \"POST /gradio_api/queue/join\"   # Gradio 4.0-4.x without the prefix: "
         "/queue/join\n"
         "# protocol = \"gradio\"\n"
         "# ends = \"gradio-queue\"\n"
         "# params = { width = \"/data/2\", height = \"/data/3\" }\n"
         "# when = { \"/fn_index\" = 0 }\n"
         "\n# AUTOMATIC1111's and Forge's own page is Gradio 3.x: each click is a WebSocket on "
         "/queue/join.\n# ends = \"gradio-ws\": the event's data message waits at the door until "
         "its job is admitted\n# (the page shows the door's queue position, or the refusal with "
         "sizes that fit). The\n# indices below are examples: read yours from the data message in "
         "the browser's network tab.\n"
         "# [[service.proxy.route]]\n"
         "# match = \"GET /queue/join\"\n"
         "# protocol = \"gradio\"\n"
         "# ends = \"gradio-ws\"\n"
         "# params = { width = \"/data/8\", height = \"/data/9\", batch = \"/data/7\" }\n"
         "# when = { \"/fn_index\" = 0 }\n"
         "\n[[service.param]]\n"
         "name = \"width\"\n"
         "type = \"int\"\n"
         "min = 64\n"
         "max = 4096\n"
         "default = 512\n"
         "memory_exponent = 1                  # activations grow with the pixels: width × height\n"
         "\n[[service.param]]\n"
         "name = \"height\"\n"
         "type = \"int\"\n"
         "min = 64\n"
         "max = 4096\n"
         "default = 512\n"
         "memory_exponent = 1\n"
         "\n[[service.param]]\n"
         "name = \"batch\"\n"
         "type = \"int\"\n"
         "min = 1\n"
         "max = 64\n"
         "default = 1\n"
         "memory_exponent = 1\n"
         "\n# What one call adds on top of the loaded checkpoint: placeholders to measure "
         "(observed "
         "calls\n# replace them; `vramguard job ID` shows estimate and observed).\n"
         "[[service.sizing]]\n"
         "width = 512\n"
         "height = 512\n"
         "batch = 1\n"
         "vram = \"1.5GiB\"\n"
         "\n[[service.sizing]]\n"
         "width = 1024\n"
         "height = 1024\n"
         "batch = 1\n"
         "vram = \"4GiB\"\n";
}

// The job interface both LLM servers' templates share: a chat completion is a job of the
// service, admitted by its size; the numbers are placeholders the observations replace.
std::string LlmJobs(int port, int concurrency, std::string_view why_concurrency) {
  const std::string p = std::to_string(port);
  return "# Each chat completion through the proxy is a job (docs/proxy.md, \"Routes that are "
         "jobs\"):\n"
         "# refused at once when it can never fit, queued while the server is busy.\n"
         "jobs = { endpoint = \"POST http://127.0.0.1:" +
         p + "/v1/chat/completions\", concurrency = " + std::to_string(concurrency) +
         ", max_payload = \"4MiB\" }   # " + std::string(why_concurrency) + "\n" +
         std::string(kCommonServiceKeys) +
         "\n[service.proxy]\n"
         "listen = \"0.0.0.0:8000\"              # API clients use this\n"
         "# upstream_port = " +
         p + "             # default: the service's port\n" +
         "\n[[service.proxy.route]]\n"
         "match = \"POST /v1/chat/completions\"\n"
         "protocol = \"openai\"                  # refusals in OpenAI's error format\n"
         "params = { prompt_tokens = \"tokens:/messages/*/content\", max_tokens = "
         "\"/max_tokens\", n = \"/n\" }\n"
         "\n[[service.proxy.route]]\n"
         "match = \"POST /v1/completions\"\n"
         "protocol = \"openai\"\n"
         "params = { prompt_tokens = \"tokens:/prompt\", max_tokens = \"/max_tokens\", n = "
         "\"/n\" }\n"
         "\n[[service.param]]\n"
         "name = \"prompt_tokens\"               # estimated from the prompt's bytes / 4\n"
         "type = \"int\"\n"
         "min = 0\n"
         "max = 1048576\n"
         "default = 0\n"
         "memory_exponent = 1                  # the KV cache grows with the tokens\n"
         "\n[[service.param]]\n"
         "name = \"max_tokens\"\n"
         "type = \"int\"\n"
         "min = 1\n"
         "max = 1048576\n"
         "default = 512\n"
         "memory_exponent = 1\n"
         "\n[[service.param]]\n"
         "name = \"n\"                           # completions per request\n"
         "type = \"int\"\n"
         "min = 1\n"
         "max = 16\n"
         "default = 1\n"
         "memory_exponent = 1\n"
         "\n# What one request adds on top of the loaded server, by size: placeholders to measure "
         "(the\n# observations of real requests replace them; `vramguard job ID` shows both).\n"
         "[[service.sizing]]\n"
         "prompt_tokens = 1000\n"
         "max_tokens = 512\n"
         "n = 1\n"
         "vram = \"256MiB\"\n"
         "\n[[service.sizing]]\n"
         "prompt_tokens = 32000\n"
         "max_tokens = 2048\n"
         "n = 1\n"
         "vram = \"4GiB\"\n";
}

std::string Vllm(const GpuSnapshot* snapshot) {
  // vLLM takes --gpu-memory-utilization of the whole GPU at start: that is its vram.
  std::string vram = "20GiB";
  std::string why = "vLLM: --gpu-memory-utilization × the GPU's memory";
  if (snapshot != nullptr && !snapshot->gpus.empty()) {
    const std::uint64_t gib = snapshot->gpus[0].total.count() * 85 / 100 / Bytes::GiB(1).count();
    vram = fmt::format("{}GiB", std::max<std::uint64_t>(1, gib));
    why = fmt::format("vLLM: 0.85 × GPU 0's {}", FormatBytes(snapshot->gpus[0].total));
  }
  return "\n# vLLM's OpenAI-compatible server on an internal port, reached through the proxy on "
         "8000\n# (/v1/chat/completions, streamed answers included). vLLM reserves its KV cache "
         "at start\n# (--gpu-memory-utilization): requests then grow nothing, and the routes below "
         "queue them\n# by size and refuse the ones that cannot fit.\n"
         "[[service]]\n"
         "name = \"llm\"\n"
         "command = [\"vllm\", \"serve\", \"Qwen/Qwen2.5-7B-Instruct\", \"--host\", \"127.0.0.1\", "
         "\"--port\", \"18000\", \"--gpu-memory-utilization\", \"0.85\"]\n" +
         GpusLine(snapshot) + VramLine(snapshot, vram, why) +
         "port = 18000\n"
         "ready = { http = \"/health\", timeout = \"600s\" }   # loading the weights takes a "
         "while\n"
         "liveness = { http = \"/health\", interval = \"15s\", failures = 3 }\n"
         "stop = { grace = \"30s\" }\n"
         "on_oom = \"restart\"\n" +
         LlmJobs(18000, 16, "vLLM batches requests: at most 16 at once here");
}

std::string LlamaServer(const GpuSnapshot* snapshot) {
  return "\n# llama.cpp's llama-server on an internal port, reached through the proxy on 8000\n"
         "# (OpenAI-compatible: /v1/chat/completions, streamed answers included).\n"
         "[[service]]\n"
         "name = \"llm\"\n"
         "command = [\"llama-server\", \"-m\", \"/models/model.gguf\", \"--host\", \"127.0.0.1\", "
         "\"--port\", \"18000\", \"-ngl\", \"99\", \"-c\", \"32768\", \"--parallel\", \"4\"]\n" +
         GpusLine(snapshot) +
         VramLine(snapshot, "8GiB", "the model's weights and its KV cache (-c), with the context") +
         "port = 18000\n"
         "ready = { http = \"/health\", timeout = \"300s\" }\n"
         "liveness = { http = \"/health\", interval = \"15s\", failures = 3 }\n"
         "stop = { grace = \"15s\" }\n"
         "on_oom = \"restart\"\n" +
         LlmJobs(18000, 4, "llama-server's --parallel slots");
}

}  // namespace

std::vector<std::string> InitTemplates() {
  return {"comfyui", "gradio", "llama-server", "vllm", "llm"};
}

Result<std::string> StarterConfig(std::string_view template_name, const GpuSnapshot* snapshot,
                                  std::string_view no_gpu_reason) {
  std::string service;
  if (template_name.empty()) {
    service = Skeleton();
  } else if (template_name == "comfyui") {
    service = ComfyUi(snapshot);
  } else if (template_name == "gradio") {
    service = Gradio(snapshot);
  } else if (template_name == "vllm" || template_name == "llm") {  // llm: the earlier name
    service = Vllm(snapshot);
  } else if (template_name == "llama-server") {
    service = LlamaServer(snapshot);
  } else {
    return std::unexpected(Error{
        ErrorCode::kInvalidArgument, fmt::format("--template: no template '{}'", template_name),
        "choose comfyui, gradio, llama-server or vllm (or none for a skeleton)"});
  }
  return Header(snapshot, no_gpu_reason) + kDaemonAndGpu + service;
}

Result<int> RunInit(const InitOptions& o) {
  GpuSnapshot snapshot;
  std::string no_gpu;
  bool have = false;
  if (auto probe = NvmlProbe::Open(NvmlOptions{})) {
    if (auto snap = (*probe)->Snapshot()) {
      snapshot = std::move(*snap);
      have = true;
    } else {
      no_gpu = snap.error().message;
    }
  } else {
    no_gpu = probe.error().message;
  }
  auto text = StarterConfig(o.template_name, have ? &snapshot : nullptr, no_gpu);
  if (!text) return std::unexpected(text.error());
  if (o.output.empty() || o.output == "-") {
    std::cout << *text;
    return 0;
  }
  namespace fs = std::filesystem;
  const fs::path path(o.output);
  std::error_code ec;
  if (fs::exists(path, ec) && !o.force) {
    return std::unexpected(Error{ErrorCode::kRefused, o.output + " exists; not overwriting it",
                                 "add --force to replace it, or choose another file with -o"});
  }
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return std::unexpected(
        Error{ErrorCode::kIo, "cannot create " + path.parent_path().string() + ": " + ec.message(),
              "choose another place with -o"});
  }
  // Written beside it, then renamed: a reader never sees half a file.
  const std::string tmp = o.output + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << *text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return std::unexpected(Error{ErrorCode::kIo, "cannot write " + tmp,
                                   "check the directory's permissions, or choose -o elsewhere"});
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return std::unexpected(Error{ErrorCode::kIo, "cannot write " + o.output + ": " + ec.message(),
                                 "check the directory's permissions, or choose -o elsewhere"});
  }
  std::cerr << "wrote " << o.output << (have ? "" : " (no GPU found: " + no_gpu + ")")
            << "; check it with `vramguard check-config " << o.output << "`\n";
  return 0;
}

}  // namespace vg
