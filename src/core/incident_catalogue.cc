// The built-in catalogue: every signature vramguard knows, as data (docs/oom.md lists them with an
// example line each). Most specific first: the first match wins, so a line that names both a
// generation-specific exception type and the generic phrase gets the specific id.
#include "core/incident.h"

namespace vg {
namespace {

using K = IncidentKind;

Signature Lit(const char* id, K kind, const char* engine, const char* match, const char* what) {
  return Signature{id, kind, engine, match, false, what, ""};
}
Signature Re(const char* id, K kind, const char* engine, const char* anchor, const char* regex,
             const char* what) {
  return Signature{id, kind, engine, regex, true, what, anchor};
}

std::vector<Signature> MakeCatalogue() {
  return {
      // PyTorch, three generations of the caching allocator's message, then the generic phrase.
      Lit("torch-oom-2.4", K::kOom, "pytorch",
          "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate", "CUDA out of memory"),
      Lit("torch-oom-2.1", K::kOom, "pytorch",
          "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate",
          "CUDA out of memory"),
      Lit("torch-oom-2.0", K::kOom, "pytorch",
          "RuntimeError: CUDA out of memory. Tried to allocate", "CUDA out of memory"),
      Lit("torch-oom", K::kOom, "pytorch", "CUDA out of memory. Tried to allocate",
          "CUDA out of memory"),
      Lit("torch-oom-async", K::kOom, "pytorch", "would exceed allowed memory. (out of memory)",
          "CUDA out of memory (cudaMallocAsync)"),
      // The exception type with a message (the trailing space): `except torch.OutOfMemoryError:`
      // in a quoted source line is not one.
      Lit("torch-oom-exception", K::kOom, "pytorch",
          "torch.OutOfMemoryError: ", "CUDA out of memory"),
      Lit("torch-cuda-oom-exception", K::kOom, "pytorch",
          "torch.cuda.OutOfMemoryError: ", "CUDA out of memory"),
      // CUDA libraries and the runtime.
      Lit("cublas-alloc-failed", K::kOom, "cublas", "CUBLAS_STATUS_ALLOC_FAILED",
          "cuBLAS could not allocate its workspace"),
      Lit("cudnn-alloc-failed", K::kOom, "cudnn", "CUDNN_STATUS_ALLOC_FAILED",
          "cuDNN could not allocate its workspace"),
      Lit("cuda-error-oom", K::kOom, "cuda", "CUDA error: out of memory", "CUDA out of memory"),
      // llama.cpp / ggml.
      Lit("ggml-cudamalloc-failed", K::kOom, "llama.cpp", "cudaMalloc failed: out of memory",
          "cudaMalloc failed"),
      Re("ggml-unable-to-allocate-buffer", K::kOom, "llama.cpp", "unable to allocate CUDA",
         "unable to allocate CUDA[0-9]+ buffer", "could not allocate a CUDA buffer"),
      Re("ggml-failed-to-allocate-buffer", K::kOom, "llama.cpp", "failed to allocate CUDA",
         "failed to allocate CUDA[0-9]+ buffer", "could not allocate a CUDA buffer"),
      Lit("llama-kv-cache", K::kOom, "llama.cpp", "failed to allocate buffer for kv cache",
          "could not allocate the KV cache"),
      // vLLM start-up.
      Lit("vllm-no-cache-blocks", K::kOom, "vllm", "No available memory for the cache blocks",
          "no memory left for the KV cache blocks"),
      Lit("vllm-startup-free-memory", K::kOom, "vllm",
          "on startup is less than desired GPU memory utilization",
          "less free memory at start-up than gpu_memory_utilization asks"),
      // vLLM V1: the KV cache for one max-length request does not fit.
      Lit("vllm-kv-cache-too-small", K::kOom, "vllm",
          "which is larger than the available KV cache memory",
          "the KV cache for one request does not fit"),
      // TensorFlow and JAX/XLA.
      Lit("tensorflow-oom", K::kOom, "tensorflow", "OOM when allocating tensor",
          "out of memory allocating a tensor"),
      Lit("xla-oom", K::kOom, "jax", "RESOURCE_EXHAUSTED: Out of memory while trying to allocate",
          "XLA out of memory"),
      // ComfyUI recovers by itself after this line (it unloads its models).
      Lit("comfyui-oom", K::kOom, "comfyui", "Got an OOM, unloading all loaded models.",
          "out of memory, models unloaded"),
      // Errors that out-of-memory usually causes.
      Lit("torch-nvml-assert", K::kOomProbable, "pytorch",
          "NVML_SUCCESS == r INTERNAL ASSERT FAILED", "NVML assert in the CUDA caching allocator"),
      Lit("cudnn-not-initialized", K::kOomProbable, "cudnn", "CUDNN_STATUS_NOT_INITIALIZED",
          "cuDNN could not initialise"),
      // Sticky CUDA errors: the context is poisoned, only a new process recovers.
      Lit("cuda-illegal-address", K::kSticky, "cuda", "an illegal memory access was encountered",
          "illegal memory access"),
      Lit("cuda-launch-failure", K::kSticky, "cuda", "CUDA error: unspecified launch failure",
          "unspecified launch failure"),
      Lit("cuda-device-assert", K::kSticky, "cuda", "device-side assert triggered",
          "device-side assert"),
      Lit("cuda-misaligned-address", K::kSticky, "cuda", "CUDA error: misaligned address",
          "misaligned address"),
      Lit("cuda-illegal-instruction", K::kSticky, "cuda",
          "CUDA error: an illegal instruction was encountered", "illegal instruction"),
      // The GPU is gone (kernel log).
      Re("xid-79", K::kDeviceLost, "nvidia-driver", "NVRM: Xid", "NVRM: Xid \\([^)]*\\): 79\\b",
         "GPU fell off the bus (Xid 79)"),
      Lit("gpu-fallen-off-bus", K::kDeviceLost, "nvidia-driver", "GPU has fallen off the bus",
          "GPU fell off the bus"),
      // Serious driver-reported errors that leave the GPU on the bus (XidMeaning names each).
      // Application faults the driver recovers from (13, 31, 43 …) are not listed.
      Re("xid-ecc", K::kGpuError, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): (48|63|64|92|94|95)\\b", "GPU memory (ECC) error"),
      Re("xid-nvlink", K::kGpuError, "nvidia-driver", "NVRM: Xid", "NVRM: Xid \\([^)]*\\): 74\\b",
         "NVLink error"),
      Re("xid-firmware", K::kGpuError, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): (61|62|119|120|140|143)\\b",
         "GPU firmware (GSP / micro-controller) error"),
      // Port clashes.
      Lit("gradio-no-empty-port", K::kPortClash, "gradio", "Cannot find empty port in range",
          "port in use"),
      Lit("errno-98", K::kPortClash, "python", "[Errno 98]", "address already in use"),
      Lit("eaddrinuse", K::kPortClash, "node", "EADDRINUSE", "address already in use"),
      Lit("bind-address-in-use", K::kPortClash, "libc", "bind: Address already in use",
          "address already in use"),
      Lit("go-bind-address-in-use", K::kPortClash, "go", "bind: address already in use",
          "address already in use"),
      Lit("llama-bind-failed", K::kPortClash, "llama.cpp", "couldn't bind HTTP server socket",
          "could not bind its HTTP port"),
      // Readiness.
      Lit("gradio-ready", K::kReady, "gradio", "Running on local URL:", "listening"),
      Lit("comfyui-ready", K::kReady, "comfyui", "To see the GUI go to: http", "listening"),
      Lit("uvicorn-ready", K::kReady, "uvicorn", "Uvicorn running on http", "listening"),
      Lit("llama-ready", K::kReady, "llama.cpp", "server is listening on http", "listening"),
  };
}

}  // namespace

const std::vector<Signature>& BuiltinCatalogue() {
  static const std::vector<Signature> catalogue = MakeCatalogue();
  return catalogue;
}

}  // namespace vg
