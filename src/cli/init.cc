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
# `vramguard init --template comfyui|gradio|llm`).
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
         "# upstream_port = 18188             # default: the service's port\n";
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
         "\n[service.proxy]\n"
         "listen = \"0.0.0.0:7860\"              # browsers and API clients use this\n"
         "# upstream_port = 17860             # default: the service's port\n";
}

std::string Llm(const GpuSnapshot* snapshot) {
  // vLLM takes --gpu-memory-utilization of the whole GPU at start: that is its vram.
  std::string vram = "20GiB";
  std::string why = "vLLM: --gpu-memory-utilization × the GPU's memory";
  if (snapshot != nullptr && !snapshot->gpus.empty()) {
    const std::uint64_t gib = snapshot->gpus[0].total.count() * 85 / 100 / Bytes::GiB(1).count();
    vram = fmt::format("{}GiB", std::max<std::uint64_t>(1, gib));
    why = fmt::format("vLLM: 0.85 × GPU 0's {}", FormatBytes(snapshot->gpus[0].total));
  }
  return "\n# An OpenAI-compatible LLM server (vLLM; llama.cpp's llama-server below) on an "
         "internal "
         "port,\n# reached through the proxy on 8000 (/v1/chat/completions, streamed answers "
         "included).\n"
         "[[service]]\n"
         "name = \"llm\"\n"
         "command = [\"vllm\", \"serve\", \"Qwen/Qwen2.5-7B-Instruct\", \"--host\", \"127.0.0.1\", "
         "\"--port\", \"18000\", \"--gpu-memory-utilization\", \"0.85\"]\n"
         "# command = [\"llama-server\", \"-m\", \"/models/model.gguf\", \"--host\", "
         "\"127.0.0.1\", "
         "\"--port\", \"18000\", \"-ngl\", \"99\"]\n" +
         GpusLine(snapshot) + VramLine(snapshot, vram, why) +
         "port = 18000\n"
         "ready = { http = \"/health\", timeout = \"600s\" }   # loading the weights takes a "
         "while\n"
         "liveness = { http = \"/health\", interval = \"15s\", failures = 3 }\n"
         "stop = { grace = \"30s\" }\n"
         "on_oom = \"restart\"\n" +
         kCommonServiceKeys +
         "\n[service.proxy]\n"
         "listen = \"0.0.0.0:8000\"              # API clients use this\n"
         "# upstream_port = 18000             # default: the service's port\n";
}

}  // namespace

std::vector<std::string> InitTemplates() { return {"comfyui", "gradio", "llm"}; }

Result<std::string> StarterConfig(std::string_view template_name, const GpuSnapshot* snapshot,
                                  std::string_view no_gpu_reason) {
  std::string service;
  if (template_name.empty()) {
    service = Skeleton();
  } else if (template_name == "comfyui") {
    service = ComfyUi(snapshot);
  } else if (template_name == "gradio") {
    service = Gradio(snapshot);
  } else if (template_name == "llm") {
    service = Llm(snapshot);
  } else {
    return std::unexpected(Error{ErrorCode::kInvalidArgument,
                                 fmt::format("--template: no template '{}'", template_name),
                                 "choose comfyui, gradio or llm (or none for a skeleton)"});
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
