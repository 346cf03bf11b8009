// `vramguard init`: a commented starter config for this machine — the GPUs the probe finds (the
// same as `vramguard gpus`), the daemon's and GPU settings, and a [[service]] skeleton with every
// common key, or with --template a service for ComfyUI, a Gradio WebUI (A1111/Forge) or an
// OpenAI-compatible LLM server (vLLM, llama.cpp's llama-server) behind the proxy. What it writes
// passes `vramguard check-config`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gpu/gpu_probe.h"
#include "util/error.h"

namespace vg {

// The file's text. `snapshot` null: no GPU could be read (`no_gpu_reason` says why). template_name
// "" for the plain skeleton; else comfyui, gradio or llm (anything else is kInvalidArgument
// naming them).
Result<std::string> StarterConfig(std::string_view template_name, const GpuSnapshot* snapshot,
                                  std::string_view no_gpu_reason);

// The --template choices: comfyui, gradio, llm.
std::vector<std::string> InitTemplates();

struct InitOptions {
  std::string output;  // "" or "-": stdout
  bool force = false;  // overwrite an existing file
  std::string template_name;
};

// Probes the GPUs, then writes the config to stdout or `output` (its directory created; an
// existing file is refused without --force).
Result<int> RunInit(const InitOptions& o);

}  // namespace vg
