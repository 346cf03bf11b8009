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
      // Host memory (RAM), not VRAM: an allocator that names the CPU. Before every GPU entry, so
      // TensorFlow's OOM on device:CPU:0 is never taken for a GPU OOM.
      Re("tensorflow-host-oom", K::kHostOom, "tensorflow", "OOM when allocating tensor",
         "OOM when allocating tensor.*(by allocator cpu|device:CPU:)",
         "out of host memory (RAM) allocating a tensor"),
      Re("ggml-cpu-buffer", K::kHostOom, "llama.cpp", "to allocate CPU buffer",
         "(failed|unable) to allocate CPU buffer", "out of host memory (RAM) for a CPU buffer"),
      Lit("errno-12", K::kHostOom, "python", "[Errno 12] Cannot allocate memory",
          "out of host memory (RAM)"),
      // strerror(ENOMEM) with its number after it, as C libraries print it (safetensors'
      // "unable to mmap 23782506688 bytes from file : Cannot allocate memory (12)").
      Lit("enomem-12", K::kHostOom, "libc", "Cannot allocate memory (12)",
          "out of host memory (RAM)"),
      Lit("torch-cpu-alloc", K::kHostOom, "pytorch", "DefaultCPUAllocator: can't allocate memory",
          "out of host memory (RAM)"),
      Lit("torch-cpu-alloc-windows", K::kHostOom, "pytorch",
          "DefaultCPUAllocator: not enough memory", "out of host memory (RAM)"),
      // The kernel's OOM killer (dmesg, journalctl -k): its report opens with "<task> invoked
      // oom-killer: gfp_mask=…" and closes with "Out of memory: Killed process <pid> (<name)"
      // ("Kill process … score …" on older kernels, "Memory cgroup out of memory: …" for a
      // container); one report is one incident (the log's clock merges its hundreds of lines).
      Lit("kernel-oom-killer", K::kHostOom, "linux",
          "invoked oom-killer:", "the kernel's OOM killer ran: host memory (RAM) exhausted"),
      Re("kernel-oom-killed-process", K::kHostOom, "linux", "of memory: Kill",
         "[Oo]ut of memory: Kill(ed)? process [0-9]+",
         "the kernel's OOM killer killed a process for host memory (RAM)"),
      // systemd: "ollama.service: A process of this unit has been killed by the OOM killer.",
      // then "Failed with result 'oom-kill'." (one incident: the same cause, adjacent lines).
      Lit("systemd-oom-killed", K::kHostOom, "systemd", "has been killed by the OOM killer",
          "the kernel's OOM killer killed the unit's process"),
      Lit("systemd-result-oom-kill", K::kHostOom, "systemd", "Failed with result 'oom-kill'",
          "the kernel's OOM killer killed the unit's process"),
      // Ollama refusing to load: "model requires more system memory (44.7 GiB) than is available
      // (10.7 GiB)".
      Lit("ollama-system-memory", K::kHostOom, "ollama", "requires more system memory (",
          "not enough host memory (RAM) for the model"),
      // A memory cgroup's OOM report (a container at its limit) without its first lines.
      Lit("memcg-oom-report", K::kHostOom, "linux", "Memory cgroup stats for /",
          "a container (memory cgroup) ran out of its memory limit"),
      // Kubernetes: the container was killed at its memory limit ("Reason: OOMKilled").
      Re("k8s-oomkilled", K::kHostOom, "kubernetes", "OOMKilled", "[Rr]eason\"?:\\s*\"?OOMKilled",
         "the container was OOM-killed at its memory limit"),
      // Hugging Face Spaces' runtime error page: "Memory limit exceeded (16Gi)" — the Space's
      // container at its RAM limit.
      Re("hf-spaces-memory-limit", K::kHostOom, "huggingface", "Memory limit exceeded (",
         "Memory limit exceeded \\([0-9.]+ ?[KMGTP]i?B?\\)",
         "the Space's container exceeded its memory limit (host RAM)"),
      // Slurm's job step in its memory cgroup: "slurmstepd: error: Detected 1 oom-kill event(s)
      // in StepId=191.batch cgroup", and the older "Exceeded job memory limit".
      Re("slurm-oom-kill", K::kHostOom, "slurm", "Detected ",
         "Detected [0-9]+ oom[-_ ]kill events?", "Slurm's memory cgroup killed the job (host RAM)"),
      Re("slurm-memory-limit", K::kHostOom, "slurm", "memory limit",
         "Exceeded (job|step) memory limit", "the Slurm job exceeded its memory limit (host RAM)"),
      // ggml's CPU back-end: the buffer of a model or KV cache kept in host RAM.
      Lit("ggml-cpu-buffer-alloc", K::kHostOom, "llama.cpp",
          "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer",
          "not enough host memory (RAM) for a CPU buffer"),
      // Ray's memory monitor kills workers before the kernel would: "(raylet) … 1 Workers (tasks /
      // actors) killed due to memory pressure (OOM)", and the task's own error, "Task was killed
      // due to the node running low on memory." Host RAM, whatever the workers ran on.
      Lit("ray-memory-pressure", K::kHostOom, "ray", "killed due to memory pressure (OOM)",
          "Ray killed workers: host memory (RAM) running out"),
      Lit("ray-task-low-memory", K::kHostOom, "ray", "due to the node running low on memory",
          "Ray killed a task: host memory (RAM) running out"),
      // ncnn's failed Vulkan call with VK_ERROR_OUT_OF_HOST_MEMORY ("vkAllocateMemory failed -1").
      Re("ncnn-vk-out-of-host-memory", K::kHostOom, "ncnn", " failed -1",
         "\\bvk[A-Z][A-Za-z]+ failed -1\\b", "out of host memory (RAM) (Vulkan)"),
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
      // Retyped or re-wrapped without the full stop (Forge's OutOfCacheError as users paste it).
      Lit("torch-oom-unpunctuated", K::kOom, "pytorch", "CUDA out of memory Tried to allocate",
          "CUDA out of memory"),
      // The same allocator on the other back-ends PyTorch builds for: ROCm ("HIP out of memory.
      // Tried to allocate 2.00 GiB. GPU 0 has a total capacity of …"), Intel ("XPU out of
      // memory."), Apple ("MPS backend out of memory (MPS allocated: 16.00 GB, other allocations:
      // 3.31 GB, max allowed: 18.13 GB). Tried to allocate 256 bytes on shared pool.").
      Re("torch-oom-other-backend", K::kOom, "pytorch", " out of memory",
         "(HIP|XPU|NPU|MUSA) out of memory\\. Tried to allocate", "out of device memory"),
      Lit("torch-mps-oom", K::kOom, "pytorch", "MPS backend out of memory (",
          "out of GPU memory (Apple MPS)"),
      // The message without its first words, as pasted: "Tried to allocate 20.00 MiB (GPU 0; …".
      Re("torch-oom-tried-to-allocate", K::kOom, "pytorch", "Tried to allocate ",
         "Tried to allocate [0-9.]+ ?[KMGT]i?B \\(GPU [0-9]+; ", "CUDA out of memory"),
      // The first sentence alone (a paste that put each sentence in its own paragraph, a logger
      // that split it): the numbers follow on later lines.
      Lit("torch-oom-runtimeerror", K::kOom, "pytorch", "RuntimeError: CUDA out of memory.",
          "CUDA out of memory"),
      Lit("torch-oom-async", K::kOom, "pytorch", "would exceed allowed memory. (out of memory)",
          "CUDA out of memory (cudaMallocAsync)"),
      // The exception type with a message (the trailing space): `except torch.OutOfMemoryError:`
      // in a quoted source line is not one.
      Lit("torch-oom-exception", K::kOom, "pytorch",
          "torch.OutOfMemoryError: ", "CUDA out of memory"),
      Lit("torch-cuda-oom-exception", K::kOom, "pytorch",
          "torch.cuda.OutOfMemoryError: ", "CUDA out of memory"),
      // The exception's class name alone, as Jupyter, Kaggle and Colab print an uncaught one
      // ("OutOfMemoryError: CUDA out of memory. " with the sizes on the next line).
      Lit("torch-oom-exception-bare", K::kOom, "pytorch", "OutOfMemoryError: CUDA out of memory",
          "CUDA out of memory"),
      // PyTorch 0.4–1.0 (THC).
      Lit("torch-cuda-runtime-oom", K::kOom, "pytorch", "cuda runtime error (2) : out of memory",
          "CUDA out of memory"),
      Lit("torch-thc-oom", K::kOom, "pytorch", "error=2 : out of memory", "CUDA out of memory"),
      // ComfyUI prints str() of torch.OutOfMemoryError first ("Allocation on device ").
      Lit("comfyui-exception-allocation", K::kOom, "comfyui",
          "!!! Exception during processing !!! Allocation on device", "CUDA out of memory"),
      // ComfyUI's older error dialog: "Error occurred when executing CogVideoDecode:", a blank
      // line, then str() of torch.OutOfMemoryError alone on its line.
      // Also after a colon, as a node or script prints str() of the exception ("Error in
      // image_to_3d: Allocation on device ").
      Re("comfyui-dialog-allocation", K::kOom, "comfyui", "Allocation on device",
         "(^\\s*|: )Allocation on device\\s*$", "CUDA out of memory"),
      // Intel XPU (IPEX): one block may not exceed 4 GB on this platform; PyTorch's message
      // shape follows ("Tried to allocate 6.85 GiB (GPU 0; 15.56 GiB total capacity; …").
      Lit("xpu-block-over-4gb", K::kOom, "ipex",
          "can NOT allocate memory block with size larger than 4GB",
          "an allocation over the XPU's 4 GB block limit"),
      // TensorRT-LLM's executor: "Executor creation failed due to insufficient GPU memory."
      // (the KV cache, or another component, with the free memory before it in the lines after).
      Lit("trtllm-insufficient-gpu-memory", K::kOom, "tensorrt-llm",
          "failed due to insufficient GPU memory", "not enough GPU memory"),
      // CTranslate2 (faster-whisper, WhisperX).
      Lit("ctranslate2-oom", K::kOom, "ctranslate2", "CUDA failed with error out of memory",
          "CUDA out of memory"),
      // tinygrad's CUDA runtime: "RuntimeError: CUDA Error 2, out of memory" (exo, tinygrad).
      Lit("tinygrad-cuda-oom", K::kOom, "tinygrad", "CUDA Error 2, out of memory",
          "CUDA out of memory"),
      // Metal's command buffer failing for memory ("[METAL] Command buffer execution failed:
      // Insufficient Memory (00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)"; MLX).
      Lit("metal-command-buffer-oom", K::kOom, "metal",
          "kIOGPUCommandBufferCallbackErrorOutOfMemory", "out of GPU memory (Metal)"),
      Re("ncnn-vk-out-of-device-memory", K::kOom, "ncnn", " failed -2",
         "\\bvk[A-Z][A-Za-z]+ failed -2\\b", "out of GPU memory (Vulkan)"),
      // wgpu (Burn, candle's and others' WebGPU backends): a validation error whose cause is
      // "Not enough memory left" on a line of its own, under "In Device::create_buffer" etc.
      Re("wgpu-out-of-memory", K::kOom, "wgpu", "Not enough memory left",
         "^\\s*Not enough memory left\\.?\\s*$", "out of GPU memory (wgpu)"),
      // ONNX Runtime's CUDA execution provider: "CUDA failure 2: out of memory ; GPU=0 ; …".
      Lit("onnxruntime-cuda-failure-oom", K::kOom, "onnxruntime", "CUDA failure 2: out of memory",
          "CUDA out of memory"),
      // ONNX Runtime's arena (the CUDA execution provider's in a GPU service).
      Lit("onnxruntime-arena-oom", K::kOom, "onnxruntime",
          "Failed to allocate memory for requested buffer of size", "out of memory in its arena"),
      // PaddlePaddle: "Out of memory error on GPU 0. Cannot allocate 98.000244MB memory on GPU 0,
      // …".
      Lit("paddle-oom", K::kOom, "paddlepaddle", "Out of memory error on GPU",
          "CUDA out of memory"),
      // TensorRT: "Requested amount of GPU memory (4294967296 bytes) could not be allocated."
      Re("tensorrt-oom", K::kOom, "tensorrt", "Requested amount of ",
         "Requested amount of (GPU )?memory \\([0-9]+ bytes\\) could not be allocated",
         "could not allocate GPU memory"),
      // CUDA libraries and the runtime.
      Lit("cublas-alloc-failed", K::kOom, "cublas", "CUBLAS_STATUS_ALLOC_FAILED",
          "cuBLAS could not allocate its workspace"),
      Lit("cudnn-alloc-failed", K::kOom, "cudnn", "CUDNN_STATUS_ALLOC_FAILED",
          "cuDNN could not allocate its workspace"),
      Lit("tensorflow-cuda-error-oom", K::kOom, "tensorflow", "CUDA_ERROR_OUT_OF_MEMORY",
          "CUDA out of memory"),
      // TensorFlow's device allocation failing inside an op ("ResourceExhaustedError: failed to
      // allocate memory [Op:AddV2]", "[[{{node …}}]]" under it); its host-side failures name
      // the CPU allocator (tensorflow-host-oom).
      Re("tensorflow-failed-to-allocate", K::kOom, "tensorflow", "failed to allocate memory",
         "ResourceExhausted(Error)?:\\s*failed to allocate memory", "out of GPU memory"),
      Lit("nccl-cuda-oom", K::kOom, "nccl", "Cuda failure 'out of memory'",
          "CUDA out of memory (in NCCL)"),
      Lit("cuda-error-oom", K::kOom, "cuda", "CUDA error: out of memory", "CUDA out of memory"),
      // The same without the space after the colon, as some wrappers and pastes print it
      // ("RuntimeError:CUDA error:out of memory"), or with a capital E (Darknet's check_error:
      // "CUDA Error: out of memory").
      Re("cuda-error-oom-unspaced", K::kOom, "cuda", "out of memory",
         "CUDA [Ee]rror:\\s*out of memory", "CUDA out of memory"),
      // TVM / MLC-LLM's runtime check: "… is false: CUDA: out of memory".
      Lit("tvm-cuda-oom", K::kOom, "tvm", "CUDA: out of memory", "CUDA out of memory"),
      // TensorRT-LLM: "[TensorRT-LLM][ERROR] CUDA runtime error in ::cudaMallocAsync(ptr, n, …):
      // out of memory (…/ipcUtils.cpp:48)".
      // FasterTransformer's check says the same without the call: "[FT][ERROR] CUDA runtime
      // error: out of memory /workspace/…/allocator.h:220".
      Re("cuda-runtime-error-oom", K::kOom, "tensorrt-llm", "CUDA runtime error",
         "CUDA runtime error( in .{0,300})?: out of memory", "CUDA out of memory"),
      // TensorRT's allocator and builder: "[defaultAllocator.cpp::allocate::19] Error code 1:
      // Cuda Runtime (out of memory)", "Error code 2: OutOfMemory (no further information)",
      // "Error code 2: out of Memory (Requested size was 22942842880 bytes.)".
      // TensorRT 8 spells it "Error Code 1: Cuda Runtime (out of memory)".
      Re("tensorrt-error-code-oom", K::kOom, "tensorrt", "Error code ",
         "Error code [0-9]+: ([Cc]uda [Rr]untime \\(out of memory\\)|[Oo]ut ?[Oo]f ?[Mm]emory)",
         "could not allocate GPU memory"),
      Re("tensorrt-error-code-oom-8", K::kOom, "tensorrt", "Error Code ",
         "Error Code [0-9]+: ([Cc]uda [Rr]untime \\(out of memory\\)|[Oo]ut ?[Oo]f ?[Mm]emory)",
         "could not allocate GPU memory"),
      // TensorRT 7's safe runtime: "Cuda Error in allocate: 2 (out of memory)" (2 is
      // cudaErrorMemoryAllocation, whichever call it names).
      Re("tensorrt-cuda-error-in-oom", K::kOom, "tensorrt", "(out of memory)",
         "[Cc]uda [Ee]rror in [A-Za-z_:]{1,60}: 2 \\(out of memory\\)",
         "could not allocate GPU memory"),
      // CuPy (and Chainer on it): "Out of memory allocating 25,600,000 bytes (allocated so far:
      // 3,635,267,072 bytes)".
      Re("cupy-oom", K::kOom, "cupy", "Out of memory allocating ",
         "Out of memory allocating [0-9,]+ bytes \\(allocated so far: ", "CUDA out of memory"),
      // CuPy before v4 (Chainer 2–3): "out of memory to allocate 163840000 bytes (total
      // 1673061376 bytes)" — the total is the pool's, not the device's.
      Re("cupy-oom-old", K::kOom, "cupy", "out of memory to allocate ",
         "out of memory to allocate [0-9,]+ bytes \\(total [0-9,]+ bytes\\)", "CUDA out of memory"),
      // Julia's CUDA.jl: "ERROR: Out of GPU memory trying to allocate 2.000 GiB", or the driver's
      // CUDA_ERROR_OUT_OF_MEMORY in its words ("ERROR: Out of GPU memory"). A record of its own
      // (start of the line or after an error label): not a sentence that mentions it.
      Re("julia-out-of-gpu-memory", K::kOom, "julia", "Out of GPU memory",
         "(^\\s*|ERROR: |Error: |LoadError: |OutOfGPUMemoryError\\(?\\)?:? ?)Out of GPU memory",
         "out of GPU memory"),
      // The raw driver result 2 (CUDA_ERROR_OUT_OF_MEMORY) as torch_memory_saver prints it:
      // "[torch_memory_saver.cpp] CUresult error  result=2 file=… func=cu_mem_create".
      Re("curesult-2", K::kOom, "cuda", "CUresult error", "CUresult error +result=2( |$)",
         "CUDA out of memory (CUresult 2)"),
      // cudarc, the CUDA binding of Rust engines (candle, mistral.rs): the driver's error value
      // and its description, "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")"; the
      // description alone decides (a paste can break the constant's name).
      Re("cudarc-driver-oom", K::kOom, "candle", "DriverError(",
         "DriverError\\(CUDA_ERROR_[A-Z_ ]{1,40}, \"out of memory\"\\)", "CUDA out of memory"),
      // ComfyUI's error report (markdown): "- **Exception Type:** torch.OutOfMemoryError".
      Re("comfyui-report-oom", K::kOom, "comfyui", "OutOfMemoryError",
         "Exception Type:\\W{0,6}torch(\\.cuda)?\\.OutOfMemoryError", "out of memory"),
      // llama.cpp / ggml.
      // Older builds: "CUDA error 2 at ggml-cuda.cu:6301: out of memory" ("current device: N" on
      // the next line).
      Re("ggml-cuda-error-oom", K::kOom, "llama.cpp", "CUDA error ",
         "CUDA error [0-9]+ at [^ ]+: out of memory", "CUDA out of memory"),
      Lit("ggml-cudamalloc-failed", K::kOom, "llama.cpp", "cudaMalloc failed: out of memory",
          "cudaMalloc failed"),
      // ggml's HIP build names ROCm where the CUDA build says CUDA ("ROCm error: out of memory",
      // "current device: 0, in function alloc at …" after it); stable-diffusion.cpp, llama.cpp.
      Lit("ggml-rocm-error-oom", K::kOom, "llama.cpp", "ROCm error: out of memory",
          "ROCm out of memory"),
      // CUDA<N> on NVIDIA builds, ROCm<N> on AMD builds of the same code.
      Re("ggml-unable-to-allocate-buffer", K::kOom, "llama.cpp", "unable to allocate ",
         "unable to allocate (CUDA|ROCm)[0-9]+ buffer", "could not allocate a GPU buffer"),
      Re("ggml-failed-to-allocate-buffer", K::kOom, "llama.cpp", "failed to allocate ",
         "failed to allocate (CUDA|ROCm)[0-9]+ buffer", "could not allocate a GPU buffer"),
      Lit("llama-kv-cache", K::kOom, "llama.cpp", "failed to allocate buffer for kv cache",
          "could not allocate the KV cache"),
      // vLLM start-up.
      Lit("vllm-no-cache-blocks", K::kOom, "vllm", "No available memory for the cache blocks",
          "no memory left for the KV cache blocks"),
      Lit("vllm-startup-free-memory", K::kOom, "vllm",
          "on startup is less than desired GPU memory utilization",
          "less free memory at start-up than gpu_memory_utilization asks"),
      // vLLM V0: the same, in tokens.
      Lit("vllm-max-seq-len-kv-cache", K::kOom, "vllm",
          "is larger than the maximum number of tokens that can be stored in KV cache",
          "the KV cache cannot hold one request of the model's max length"),
      Lit("vllm-sampler-warmup-oom", K::kOom, "vllm", "CUDA out of memory occurred when warming up",
          "out of memory warming up the sampler"),
      // Hugging Face TGI: the warm-up batch does not fit.
      Re("tgi-warmup-oom", K::kOom, "text-generation-inference", "Not enough memory to handle ",
         "Not enough memory to handle [0-9]+ prefill tokens", "not enough memory for the warm-up"),
      // SGLang: the KV cache pool does not fit beside the weights.
      Lit("sglang-not-enough-memory", K::kOom, "sglang",
          "Not enough memory. Please try to increase --mem-fraction-static",
          "not enough memory for the KV cache pool"),
      // vLLM V1: the KV cache for one max-length request does not fit.
      Lit("vllm-kv-cache-too-small", K::kOom, "vllm",
          "which is larger than the available KV cache memory",
          "the KV cache for one request does not fit"),
      // TensorFlow and JAX/XLA.
      Lit("tensorflow-oom", K::kOom, "tensorflow", "OOM when allocating tensor",
          "out of memory allocating a tensor"),
      Lit("xla-oom", K::kOom, "jax", "RESOURCE_EXHAUSTED: Out of memory while trying to allocate",
          "XLA out of memory"),
      // Old jaxlib: "Resource exhausted: Out of memory while trying to allocate N bytes."
      Lit("xla-oom-old", K::kOom, "jax",
          "Resource exhausted: Out of memory while trying to allocate", "XLA out of memory"),
      Lit("xla-oom-allocating", K::kOom, "jax", "RESOURCE_EXHAUSTED: Out of memory allocating",
          "XLA out of memory"),
      // Recent XLA (TPU and GPU): "RESOURCE_EXHAUSTED: Error allocating device buffer:
      // Attempting to allocate 15.65G. That was not possible. There are 11.08G free."
      Lit("xla-error-allocating-device-buffer", K::kOom, "jax", "Error allocating device buffer",
          "XLA out of memory"),
      // XLA's and TensorFlow's BFC allocator when the allocation failed (the "(rounded to N)"
      // form; "… with freed_by_count=0. The caller indicates that this is not a failure" is a
      // warning, not this): "Allocator (GPU_0_bfc) ran out of memory trying to allocate 1.25TiB
      // (rounded to 1374521760000)requested by op …". Its chunk dump and the error that ends it
      // are the same burst of output (one incident).
      Re("bfc-allocator-oom", K::kOom, "jax", "ran out of memory trying to allocate ",
         "Allocator \\((GPU_[0-9]+_bfc|DmlAllocator)\\) ran out of memory trying to allocate "
         "[0-9.]+ ?[KMGTP]?i?B "
         "\\(rounded to [0-9]+\\)",
         "out of GPU memory (BFC allocator)"),
      Lit("xla-failed-to-allocate-request-new", K::kOom, "jax",
          "RESOURCE_EXHAUSTED: Failed to allocate request for", "XLA out of memory"),
      // Old jaxlib: "Resource exhausted: Failed to allocate request for 32.00MiB (33554432B) on
      // device ordinal 0".
      Lit("xla-failed-to-allocate-request", K::kOom, "jax",
          "Resource exhausted: Failed to allocate request for", "XLA out of memory"),
      // ComfyUI recovers by itself after this line (it unloads its models).
      Lit("comfyui-oom", K::kOom, "comfyui", "Got an OOM, unloading all loaded models.",
          "out of memory, models unloaded"),
      // Other engines and libraries (after the specific ones above: the call-named form is
      // generic).
      // The runtime's name for error 2 in any wrapper: XGBoost's "std::bad_alloc:
      // cudaErrorMemoryAllocation: out of memory", Thrust's system_error.
      Lit("cuda-error-memory-allocation", K::kOom, "cuda",
          "cudaErrorMemoryAllocation: out of memory", "CUDA out of memory"),
      // The error's enum name as CUDA samples' checkCudaErrors and DeepStream print it ("CUDA
      // error at corner_detector.cpp:97 code=2(cudaErrorMemoryAllocation) \"cudaMalloc(…)\"",
      // "cuda err_no:2, err_str:cudaErrorMemoryAllocation").
      Re("cuda-enum-memory-allocation", K::kOom, "cuda", "cudaErrorMemoryAllocation",
         "(code=2\\(|err_str:|: )cudaErrorMemoryAllocation\\b", "CUDA out of memory"),
      // RAPIDS (cuDF, cuML) through RMM: "MemoryError: std::bad_alloc: out_of_memory: CUDA error
      // at: …/cuda_memory_resource.hpp".
      Lit("rmm-out-of-memory", K::kOom, "rapids", "out_of_memory: CUDA error",
          "CUDA out of memory (RMM)"),
      // A CUDA call named with its failure (MXNet's "cudaMalloc retry failed: out of memory",
      // MindSpore's "The cudaStreamCreateWithFlags failed, ret[2], out of memory", Thrust's
      // "parallel_for failed: out of memory"); Blender Cycles' "Out of memory in
      // cuStreamCreate(&cuda_stream_, …)".
      Re("cuda-call-failed-oom", K::kOom, "cuda", "out of memory",
         "\\b(cuda[A-Z][A-Za-z0-9_]*|cu[A-Z][A-Za-z0-9_]*|parallel_for)\\b[^()\"'`]{0,40}"
         "\\bfailed\\b"
         "[^()\"'`]{0,20}\\bout of memory",
         "a CUDA call ran out of memory"),
      Re("cuda-call-oom-in", K::kOom, "cuda", "ut of memory in cu",
         "[Oo]ut of memory in cu[A-Z][A-Za-z0-9_]*\\(", "a CUDA call ran out of memory"),
      // ROCm's spellings of error 2 (TensorFlow/XLA on ROCm: "failed to allocate 127.99TiB
      // (140729850295296 bytes) from device: HIP_ERROR_OutOfMemory"; the HIP runtime's name).
      Lit("hip-error-oom", K::kOom, "rocm", "HIP_ERROR_OutOfMemory", "out of GPU memory (ROCm)"),
      Lit("hip-error-oom-runtime", K::kOom, "rocm", "hipErrorOutOfMemory",
          "out of GPU memory (ROCm)"),
      // Blender Cycles: "System is out of GPU memory", "System is out of GPU and shared host
      // memory".
      Lit("blender-cycles-oom", K::kOom, "blender", "System is out of GPU ",
          "out of GPU memory (Cycles)"),
      // CatBoost's GPU memory pool: "(NCudaLib::TOutOfMemoryError) …/stack_like_memory_pool.h:303:
      // Error: Out of memory. Requested 776.3222656 MB; Free 676.4537106 MB".
      Re("catboost-oom", K::kOom, "catboost", "Out of memory. Requested ",
         "Error: Out of memory\\. Requested [0-9.]+", "out of GPU memory (CatBoost pool)"),
      // NVENC's NV_ENC_ERR_OUT_OF_MEMORY (10), as FFmpeg and NVEncC report it (also what a
      // GeForce prints past its concurrent-session limit).
      Re("nvenc-oom", K::kOom, "nvenc", "EncodeSessionEx",
         "EncodeSessionEx( failed: out of memory \\(10\\)|[^:]{0,80}: 10 \\(NVENC indicates that "
         "the "
         "API call failed because it was unable to allocate enough memory)",
         "the video encoder could not allocate memory (NVENC)"),
      // DirectML (torch-directml, tensorflow-directml): "DML allocator out of memory!", "Could not
      // allocate tensor with 81544192 bytes. There is not enough GPU video memory available!"
      Lit("directml-oom", K::kOom, "directml", "DML allocator out of memory",
          "out of GPU memory (DirectML)"),
      Lit("directml-not-enough-video-memory", K::kOom, "directml",
          "There is not enough GPU video memory available", "out of GPU memory (DirectML)"),
      // MindSpore's dynamic allocator (GPU and Ascend): "… plus alloc size : 100555779072 is more
      // than total mem size : 61079552000."
      Lit("mindspore-oom", K::kOom, "mindspore", "is more than total mem size",
          "out of device memory (MindSpore)"),
      // Errors that out-of-memory usually causes.
      Lit("torch-nvml-assert", K::kOomProbable, "pytorch",
          "NVML_SUCCESS == r INTERNAL ASSERT FAILED", "NVML assert in the CUDA caching allocator"),
      // PyTorch 2.2+: the assert names the driver API call.
      Lit("torch-nvml-assert-driverapi", K::kOomProbable, "pytorch",
          "NVML_SUCCESS == DriverAPI::get()->", "NVML assert in the CUDA caching allocator"),
      Lit("cudnn-internal-error", K::kOomProbable, "cudnn", "CUDNN_STATUS_INTERNAL_ERROR",
          "cuDNN internal error"),
      // DeepSpeed's own op binding when cublasCreate fails ("Fail to create cublas handle."):
      // cuBLAS could not allocate its handle's workspace, as CUBLAS_STATUS_NOT_INITIALIZED.
      Lit("deepspeed-cublas-handle", K::kOomProbable, "deepspeed", "Fail to create cublas handle",
          "cuBLAS could not create its handle"),
      // cublasCreate failing for its handle's workspace ("CUDA error: CUBLAS_STATUS_NOT_INITIALIZED
      // when calling `cublasCreate(handle)`"): the GPU's memory is usually full.
      Lit("cublas-not-initialized", K::kOomProbable, "cublas", "CUBLAS_STATUS_NOT_INITIALIZED",
          "cuBLAS could not initialise"),
      // PyTorch's CUDA initialisation failing with cudaErrorMemoryAllocation ("CUDA
      // initialization: Unexpected error from cudaGetDeviceCount(). … Error 2: out of memory").
      Re("torch-cuda-init-oom", K::kOom, "pytorch", "Error 2: out of memory",
         "cudaGetDeviceCount.*Error 2: out of memory", "CUDA could not initialise: out of memory"),
      Lit("cudnn-not-initialized", K::kOomProbable, "cudnn", "CUDNN_STATUS_NOT_INITIALIZED",
          "cuDNN could not initialise"),
      // TensorFlow's own words for the same ("Failed to get convolution algorithm. This is
      // probably because cuDNN failed to initialize, …"): usually the GPU's memory was taken.
      Lit("tensorflow-cudnn-failed-to-initialize", K::kOomProbable, "tensorflow",
          "probably because cuDNN failed to initialize", "cuDNN could not initialise"),
      // Sticky CUDA errors: the context is poisoned, only a new process recovers.
      // cuBLAS failed inside a kernel: the same poisoned context (usually an illegal access).
      Lit("cublas-execution-failed", K::kSticky, "cublas", "CUBLAS_STATUS_EXECUTION_FAILED",
          "cuBLAS kernel failed"),
      Lit("cudnn-execution-failed", K::kSticky, "cudnn", "CUDNN_STATUS_EXECUTION_FAILED",
          "cuDNN kernel failed"),
      Lit("cuda-illegal-address", K::kSticky, "cuda", "an illegal memory access was encountered",
          "illegal memory access"),
      // cudaErrorUnknown (999) as PyTorch and others print it ("CUDA error: unknown error",
      // "CUDA error 999 … unknown error"): the driver lost the context (often after an Xid);
      // every later call in the process fails.
      Lit("cuda-unknown-error", K::kSticky, "cuda", "CUDA error: unknown error",
          "CUDA unknown error (the context is lost)"),
      // cudaErrorLaunchFailure's text in every wrapper: "CUDA error: …", old THC's
      // "THCudaCheck FAIL … error=4 : …", "cudaErrorLaunchFailure: …".
      Lit("cuda-launch-failure", K::kSticky, "cuda", "unspecified launch failure",
          "unspecified launch failure"),
      Lit("cuda-error-launch-failed", K::kSticky, "cuda", "CUDA_ERROR_LAUNCH_FAILED",
          "unspecified launch failure"),
      // The sticky errors by their runtime enum names (DeepStream's "cuda err_no:4,
      // err_str:cudaErrorLaunchFailure", checkCudaErrors' "code=700(cudaErrorIllegalAddress)").
      Re("cuda-enum-sticky", K::kSticky, "cuda", "cudaError",
         "cudaError(LaunchFailure|IllegalAddress|Assert|IllegalInstruction|HardwareStackError|"
         "InvalidPc|MisalignedAddress|InvalidAddressSpace)\\b",
         "a CUDA error that poisons the context"),
      // TensorRT's Myelin back-end naming the CUDA error it hit by number ("Error Code 1: Myelin
      // (Final synchronize failed (700))"): 700 illegal address, 710 assert, 716 misaligned,
      // 717 invalid address space, 718 invalid PC, 719 launch failure.
      Re("tensorrt-myelin-sticky", K::kSticky, "tensorrt", "Myelin (",
         "Myelin \\(.*\\((700|710|716|717|718|719)\\)\\)", "a CUDA error that poisons the context"),
      Lit("cuda-device-assert", K::kSticky, "cuda", "device-side assert triggered",
          "device-side assert"),
      // cudaErrorMisalignedAddress in every wrapper: "CUDA error: misaligned address", CUB's
      // "CUDA error 716 [.../util_device.cuh, 351]: misaligned address", Thrust's
      // "cudaErrorMisalignedAddress: misaligned address", the driver API's constant.
      Re("cuda-misaligned-address", K::kSticky, "cuda", "misaligned address",
         "CUDA [Ee]rror.{0,300}: misaligned address", "misaligned address"),
      Lit("cuda-misaligned-address-runtime", K::kSticky, "cuda", "cudaErrorMisalignedAddress",
          "misaligned address"),
      Lit("cuda-misaligned-address-driver", K::kSticky, "cuda", "CUDA_ERROR_MISALIGNED_ADDRESS",
          "misaligned address"),
      // cudaErrorECCUncorrectable: the context is lost with the memory it trusted.
      Lit("cuda-ecc-uncorrectable", K::kSticky, "cuda", "uncorrectable ECC error encountered",
          "uncorrectable ECC error"),
      Lit("cuda-ecc-uncorrectable-runtime", K::kSticky, "cuda", "cudaErrorECCUncorrectable",
          "uncorrectable ECC error"),
      Lit("cuda-ecc-uncorrectable-driver", K::kSticky, "cuda", "CUDA_ERROR_ECC_UNCORRECTABLE",
          "uncorrectable ECC error"),
      // cudaErrorLaunchTimeout: a kernel ran past the display watchdog; the context is unusable.
      Lit("cuda-launch-timeout", K::kSticky, "cuda", "the launch timed out and was terminated",
          "kernel launch timed out"),
      Lit("cuda-launch-timeout-runtime", K::kSticky, "cuda", "cudaErrorLaunchTimeout",
          "kernel launch timed out"),
      Lit("cuda-launch-timeout-driver", K::kSticky, "cuda", "CUDA_ERROR_LAUNCH_TIMEOUT",
          "kernel launch timed out"),
      Lit("cuda-illegal-instruction", K::kSticky, "cuda",
          "CUDA error: an illegal instruction was encountered", "illegal instruction"),
      Lit("thc-misaligned-address", K::kSticky, "cuda", "error=74 : misaligned address",
          "misaligned address"),
      // The kernel-side assert lines printed before PyTorch's "device-side assert triggered".
      Re("cuda-kernel-assert", K::kSticky, "cuda", "] Assertion `",
         "block: \\[[0-9]+,[0-9]+,[0-9]+\\], thread: \\[[0-9]+,[0-9]+,[0-9]+\\] Assertion `",
         "device-side assert"),
      // NCCL wraps a CUDA failure inside a collective in this: the process must restart.
      Lit("nccl-unhandled-cuda-error", K::kSticky, "nccl", "unhandled cuda error",
          "CUDA error inside NCCL"),
      // PyTorch's NCCL watchdog: a collective never finished (a peer died or hung); the process
      // group is torn down and PyTorch takes the process down with it.
      Lit("nccl-watchdog-timeout", K::kSticky, "pytorch",
          "Watchdog caught collective operation timeout", "a NCCL collective timed out"),
      // The process's GPU context was lost to a GPU reset (a hang elsewhere, Windows' TDR): the
      // GPU is back, this process's device is not; restarting the process is the cure. AMD's
      // Vulkan driver: "radv/amdgpu: The CS has been cancelled because the context is lost."
      // DirectML / D3D12: DXGI_ERROR_DEVICE_REMOVED, 0x887A0005 ("The GPU device instance has
      // been suspended. Use GetDeviceRemovedReason …").
      Lit("radv-context-lost", K::kSticky, "radv", "cancelled because the context is lost",
          "the GPU context was lost (a GPU reset)"),
      Re("dxgi-device-removed", K::kSticky, "directml", "887A0005", "\\b(0x)?887A0005\\b",
         "the GPU device was removed or reset (DXGI_ERROR_DEVICE_REMOVED)"),
      Lit("dxgi-device-removed-name", K::kSticky, "directml", "DXGI_ERROR_DEVICE_REMOVED",
          "the GPU device was removed or reset (DXGI_ERROR_DEVICE_REMOVED)"),
      // The same for Intel's Level Zero / Unified Runtime (UR_RESULT_ERROR_DEVICE_LOST,
      // ZE_RESULT_ERROR_DEVICE_LOST: the device hung or was reset) and Vulkan
      // (VK_ERROR_DEVICE_LOST, vk::DeviceLostError).
      Lit("level-zero-device-lost", K::kSticky, "level-zero", "_RESULT_ERROR_DEVICE_LOST",
          "the GPU device was lost to a hang or reset (Level Zero)"),
      Lit("vulkan-device-lost", K::kSticky, "vulkan", "VK_ERROR_DEVICE_LOST",
          "the GPU device was lost to a hang or reset (Vulkan)"),
      Lit("vulkan-device-lost-hpp", K::kSticky, "vulkan", "vk::DeviceLostError",
          "the GPU device was lost to a hang or reset (Vulkan)"),
      // Apple's Metal (MLX, llama.cpp, PyTorch MPS): a command buffer discarded because another
      // failed and the GPU recovered ("Discarded (victim of GPU error/recovery)
      // (00000005:kIOGPUCommandBufferCallbackErrorInnocentVictim)").
      Lit("metal-innocent-victim", K::kSticky, "metal",
          "kIOGPUCommandBufferCallbackErrorInnocentVictim",
          "the GPU recovered from an error and discarded this process's work (Metal)"),
      // ncnn (Real-ESRGAN, RIFE, waifu2x builds and the apps around them) prints a failed Vulkan
      // call with its VkResult: "vkQueueSubmit failed -4" (VK_ERROR_DEVICE_LOST), "… failed -2"
      // (VK_ERROR_OUT_OF_DEVICE_MEMORY), "… failed -1" (VK_ERROR_OUT_OF_HOST_MEMORY).
      Re("ncnn-vk-device-lost", K::kSticky, "ncnn", " failed -4",
         "\\bvk[A-Z][A-Za-z]+ failed -4\\b", "the GPU device was lost to a hang or reset (Vulkan)"),
      // The GPU is gone (kernel log).
      // The driver's status NV_ERR_GPU_IS_LOST (0x0000000f) on its RPCs to the GSP ("NVRM: GPU0
      // _issueRpcAndWait: rpcSendMessage failed with status 0x0000000f …", "GspRmFree failed:
      // …; status=0x0000000f"): the GPU stopped answering. "GPU0" is the driver's instance, not
      // an NVML index, so no GPU is named; engine "nvidia-gsp", not "nvidia-driver", keeps it out
      // of the kernel-log watcher, which would have to stop the services of every GPU for it
      // (the Xid 79 the driver logs with the PCI address names the GPU there).
      Re("nvrm-gpu-is-lost", K::kDeviceLost, "nvidia-gsp",
         "NVRM: ", "NVRM: .*([Ss]tatus[ =]0x0000000[fF]\\b|NV_ERR_GPU_IS_LOST)",
         "the GPU stopped answering the driver (NV_ERR_GPU_IS_LOST)"),
      Re("xid-79", K::kDeviceLost, "nvidia-driver", "NVRM: Xid", "NVRM: Xid \\([^)]*\\): 79\\b",
         "GPU fell off the bus (Xid 79)"),
      // The driver's record names itself or the device before the phrase (NVRM, an Xid, a PCI
      // address): "(GPU has fallen off the bus)" or "the message \"GPU has fallen off the bus\""
      // in a sentence about it is not the GPU falling.
      Re("gpu-fallen-off-bus", K::kDeviceLost, "nvidia-driver", "GPU has fallen off the bus",
         "(NVRM|Xid|[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}[.:][0-9A-Fa-f])[^\"'`(]{0,200}GPU has fallen off "
         "the bus",
         "GPU fell off the bus"),
      // Older drivers: "NVRM: GPU at 0000:01:00.0 has fallen off the bus."
      Re("gpu-at-bus-fallen-off-bus", K::kDeviceLost, "nvidia-driver", "has fallen off the bus",
         "NVRM: GPU at [0-9A-Fa-f:.]+ has fallen off the bus", "GPU fell off the bus"),
      // Recent drivers, with no Xid line, over three "NVRM:" lines (the bus on the first).
      Lit("gpu-fallen-off-bus-split", K::kDeviceLost, "nvidia-driver",
          "fallen off the bus and is not responding to commands", "GPU fell off the bus"),
      // nvidia-smi / NVML: "Unable to determine the device handle for GPU 0000:02:00.0: GPU is
      // lost. Reboot the system to recover this GPU".
      Lit("nvml-gpu-is-lost", K::kDeviceLost, "nvidia-driver", "GPU is lost",
          "the GPU is lost (NVML)"),
      // nvidia-smi cannot reach a GPU the driver still lists: "Unable to determine the device
      // handle for GPU0000:03:00.0: Unknown Error" (usually with PCIe AER errors in dmesg).
      Re("nvml-device-handle-unknown-error", K::kDeviceLost, "nvidia-driver",
         "device handle for GPU", "device handle for GPU ?[0-9A-Fa-f:.]+: Unknown Error",
         "the driver cannot reach the GPU (NVML: Unknown Error)"),
      // The driver could not initialise the GPU: unusable until a reset or reboot.
      Lit("rm-init-adapter-failed", K::kDeviceLost, "nvidia-driver", "RmInitAdapter failed!",
          "the GPU failed to initialise (RmInitAdapter)"),
      // Serious driver-reported errors that leave the GPU on the bus (XidMeaning names each).
      // Application faults the driver recovers from (13, 31, 43 …) are not listed.
      // NVIDIA's Xid catalogue (docs/oom.md, "Xid codes"): memory errors, NVLink errors (74 on
      // A100/H100; 144–150 are Blackwell's NVLink5 units), firmware and timeouts, and 154, the
      // driver saying what recovery the GPU now needs.
      Re("xid-ecc", K::kGpuError, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): (48|63|64|92|94|95|140|156|157)\\b", "GPU memory (ECC) error"),
      Re("xid-nvlink", K::kGpuError, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): (74|136|144|145|146|147|148|149|150|155)\\b", "NVLink error"),
      Re("xid-firmware", K::kGpuError, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): (61|62|109|110|119|120|143|158)\\b",
         "GPU firmware (GSP / micro-controller) error or timeout"),
      // AMD's kernel driver resetting the GPU after a ring timeout: the GPU comes back, every
      // context on it is lost (their processes see radv's or HIP's errors).
      Lit("amdgpu-gpu-reset", K::kGpuError, "amdgpu", "amdgpu: GPU reset begin!",
          "the driver reset the GPU (amdgpu ring timeout)"),
      // The timeout itself, before the reset (or a per-queue reset on newer kernels): "amdgpu
      // 0000:c3:00.0: ring comp_1.1.0 timeout, signaled seq=282498, emitted seq=282500",
      // "[drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring gfx timeout, signaled seq=…".
      // Intel's i915 resetting a hung GPU context ("i915 0000:00:02.0: [drm] GPU HANG: ecode
      // 9:1:eed5ef7b, in frigate.detecto [14106]"), the kernel's report as amdgpu's below.
      Re("i915-gpu-hang", K::kGpuError, "i915", "GPU HANG: ecode", "\\[drm\\] GPU HANG: ecode",
         "a GPU context hung and was reset (i915)"),
      Re("amdgpu-ring-timeout", K::kGpuError, "amdgpu",
         "timeout, signaled seq=", "amdgpu.* ring [A-Za-z0-9_.]+ timeout, signaled seq=[0-9]+",
         "a GPU ring timed out (amdgpu); the driver resets it"),
      // The same firmware timeouts as the driver logs them without an Xid line: the GSP's
      // heartbeat ("NVRM: GPU6 _kgspIsHeartbeatTimedOut: Heartbeat timed out, …", "GSP RM
      // heartbeat timed out"), the RPC-timeout banner ("_kgspLogRpcTimeout: *** GSP Timeout
      // ***"), the FSP's ("kfspPollForResponse_IMPL: FSP command timed out"). As Xid 119 is.
      Re("gsp-fsp-timeout", K::kGpuError, "nvidia-driver", "NVRM: ",
         "NVRM: .{0,120}([Hh]eartbeat timed out|\\*+ GSP Timeout \\*+|Timeout waiting for RPC "
         "from GSP|FSP command timed out)",
         "GPU firmware (GSP / FSP) error or timeout"),
      // 154 naming a reset or a reboot: the GPU is unusable until then (restarting the service
      // will not help), as lost as after an Xid 79.
      Re("xid-154-reset-required", K::kDeviceLost, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): 154\\b.{0,200}\\((GPU Reset|Node Reboot) Required\\)",
         "the GPU needs a reset or a reboot (Xid 154)"),
      Re("xid-recovery-action", K::kGpuError, "nvidia-driver", "NVRM: Xid",
         "NVRM: Xid \\([^)]*\\): 154\\b", "the GPU needs a recovery action"),
      // Python's own exception for a failed allocation, after every GPU wording (cuDF raises it
      // for RMM's device failures: "MemoryError: std::bad_alloc: out_of_memory: CUDA error …"):
      // alone on its line (a bare `MemoryError`) or with numpy's "Unable to allocate 3.00 GiB
      // for an array …" — host RAM.
      Re("python-memoryerror", K::kHostOom, "python", "MemoryError",
         "(^\\s*|: )([A-Za-z_][A-Za-z0-9_]*\\.)*_?(Array)?MemoryError(:.*)?$",
         "host memory (RAM) exhausted (Python's MemoryError)"),
      // C++'s failed `new` ending a line ("terminate called after throwing an instance of
      // 'std::bad_alloc'", "what():  std::bad_alloc", TensorRT's "Unexpected exception
      // std::bad_alloc"): host RAM; the GPU libraries' own forms (RMM's "std::bad_alloc:
      // out_of_memory: CUDA error", XGBoost's "std::bad_alloc: cudaErrorMemoryAllocation") are
      // matched above as GPU failures and do not end with it.
      Re("cpp-bad-alloc", K::kHostOom, "c++", "std::bad_alloc", "std::bad_alloc'?\\s*$",
         "host memory (RAM) exhausted (std::bad_alloc)"),
      // A PyTorch DataLoader worker SIGKILLed while the main process lives ("DataLoader worker
      // (pid 20978) is killed by signal: Killed."): the kernel's OOM killer, in practice.
      Re("torch-dataloader-killed", K::kHostOom, "pytorch", "is killed by signal: Killed",
         "DataLoader worker \\(pid [0-9]+\\) is killed by signal: Killed",
         "a DataLoader worker was killed (host memory, RAM)"),
      // Port clashes.
      Lit("gradio-no-empty-port", K::kPortClash, "gradio", "Cannot find empty port in range",
          "port in use"),
      Re("gradio-all-ports-in-use", K::kPortClash, "gradio", " are in use",
         "All ports from [0-9]+ to [0-9]+ are in use", "port in use"),
      Re("gradio-port-in-use", K::kPortClash, "gradio", " is in use", "Port [0-9]+ is in use",
         "port in use"),
      Lit("errno-98", K::kPortClash, "python", "[Errno 98]", "address already in use"),
      // libevent's evhttp (TensorFlow Serving's REST port): "NET_LOG: Couldn't bind to port 8501".
      Lit("evhttp-bind-failed", K::kPortClash, "libevent", "Couldn't bind to port",
          "could not bind its port"),
      Lit("errno-10048", K::kPortClash, "python", "[Errno 10048]", "address already in use"),
      // asyncio's bind error (uvicorn, aiohttp) names the errno: a port in use (98, 48 on macOS,
      // 10048) is a clash, and so is 13 on Windows, where asyncio maps WSAEACCES — a port another
      // process holds exclusively — to it, with Windows' text in the system's language ("You
      // tried to access a socket in a way that is prohibited…", "der Zugriff auf einen Socket
      // war…"); Linux's 13 ("permission denied": a port below 1024 without the right) is not,
      // nor is "[Errno 99] … cannot assign requested address" (no such local address).
      Re("uvicorn-bind-failed", K::kPortClash, "uvicorn",
         "error while attempting to bind on address",
         "\\[Errno (98|48|10048|10013)\\] error while attempting to bind on address|"
         "\\[Errno 13\\] error while attempting to bind on address \\([^)]*\\): [^p]|"
         "error while attempting to bind on address .*(in use|usage of each socket address)",
         "could not bind its port"),
      Lit("eaddrinuse", K::kPortClash, "node", "EADDRINUSE", "address already in use"),
      Lit("winsock-10048", K::kPortClash, "windows", "Only one usage of each socket address",
          "address already in use"),
      // The same Winsock error (WSAEADDRINUSE) in any display language: its text always names
      // "(protocol/network address/port)" in parentheses, translated ("(iletişim kuralı/ağ
      // adresi/bağlantı noktası)", "(协议/网络地址/端口)"), after Go's or libuv's "bind: ".
      Re("winsock-10048-localised", K::kPortClash, "windows", "bind: ",
         "bind: [^()]*\\([^()/]{1,40}/[^()/]{1,40}/[^()/]{1,40}\\)", "address already in use"),
      // German writes the triple with commas ("(Protokoll, Netzwerkadresse oder Anschluss)").
      Lit("winsock-10048-de", K::kPortClash, "windows", "Normalerweise darf jede Socketadresse",
          "address already in use"),
      Lit("winerror-10048", K::kPortClash, "python", "[WinError 10048]", "address already in use"),
      // Windows refusing a bind with WSAEACCES (10013): the port is held exclusively by another
      // process or inside a range Hyper-V/WinNAT reserved ("listen tcp 127.0.0.1:11434: bind: An
      // attempt was made to access a socket in a way forbidden by its access permissions.").
      Re("winsock-10013-bind", K::kPortClash, "windows",
         "access a socket in a way forbidden by its access permissions",
         "(bind|listen|Bind|Listen).*access a socket in a way forbidden by its access permissions",
         "the port is held or reserved by another program (Windows)"),
      // torch.distributed's rendezvous store (MASTER_PORT).
      Lit("torch-store-bind-failed", K::kPortClash, "pytorch",
          "The server socket has failed to bind to", "its rendezvous port is in use"),
      Lit("bind-address-in-use", K::kPortClash, "libc", "bind: Address already in use",
          "address already in use"),
      Lit("go-bind-address-in-use", K::kPortClash, "go", "bind: address already in use",
          "address already in use"),
      Lit("llama-bind-failed", K::kPortClash, "llama.cpp", "couldn't bind HTTP server socket",
          "could not bind its HTTP port"),
      Lit("llama-bind-failed-capital", K::kPortClash, "llama.cpp",
          "Couldn't bind HTTP server socket", "could not bind its HTTP port"),
      // Older llama.cpp server and llamafile: "couldn't bind to server socket: hostname=… port=…".
      Lit("llama-bind-failed-old", K::kPortClash, "llama.cpp", "couldn't bind to server socket",
          "could not bind its HTTP port"),
      // Docker publishing a container's port: "Bind for 0.0.0.0:7860 failed: port is already
      // allocated".
      Lit("docker-port-allocated", K::kPortClash, "docker", "failed: port is already allocated",
          "the published port is taken"),
      // Last, so the specific signatures above name a line first. strerror(EADDRINUSE) in any
      // wrapper: Apache's "(48)Address already in use: AH00072",
      // Rust's "kind: AddrInUse, message: \"Address already in use\"", C++ "errno=98 'Address
      // already in use'", Node's and Go's lower-case form.
      Lit("address-already-in-use", K::kPortClash, "libc", "Address already in use",
          "address already in use"),
      Lit("address-already-in-use-lc", K::kPortClash, "libc", "address already in use",
          "address already in use"),
      // gRPC servers (Triton): "Socket '0.0.0.0:18001' already in use".
      Re("socket-already-in-use", K::kPortClash, "grpc", "' already in use",
         "[Ss]ocket '[^']{1,80}' already in use", "address already in use"),
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
