// The classifier over real messages (docs/gpu-facts.md, verbatim) and realistic log fixtures.
#include "core/classifier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include <fstream>
#include <sstream>

namespace vg {
namespace {

struct Found {
  long line_no;
  Incident incident;
};

// Every incident once, as `explain` shows it: an update completes the fields of its incident.
// `updates` (when given) counts them.
std::vector<Found> FeedAll(Classifier& c, std::string_view text, int* updates = nullptr) {
  std::vector<Found> out;
  auto add = [&](Incident&& i) {
    if (!i.update) {
      out.push_back({c.lines(), std::move(i)});
      return;
    }
    if (updates) ++*updates;
    for (Found& f : out) {
      if (f.incident.seq == i.seq) f.incident.fields = i.fields;
    }
  };
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    for (Incident& i : c.Feed(line)) add(std::move(i));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  for (Incident& i : c.Flush()) add(std::move(i));
  return out;
}
std::vector<Found> Classify(std::string_view text) {
  Classifier c;
  return FeedAll(c, text);
}
std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(VG_FIXTURES_DIR) + "/logs/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

struct Case {
  const char* line;
  IncidentKind kind;
  const char* signature;
};

// Every message of docs/gpu-facts.md "What an OOM looks like in the log", verbatim.
const Case kRealMessages[] = {
    {"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 15.00 GiB. GPU 0 has a total "
     "capacity of 79.18 GiB of which 8.06 GiB is free. Process 597 has 60.60 GiB memory in use. "
     "Including non-PyTorch memory, this process has 10.51 GiB memory in use. Of the allocated "
     "memory 10.00 GiB is allocated by PyTorch, and 0 bytes is reserved by PyTorch but "
     "unallocated. If reserved but unallocated memory is large try setting "
     "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation "
     "for Memory Management  "
     "(https://docs.pytorch.org/docs/stable/notes/"
     "cuda.html#optimizing-memory-usage-with-pytorch-cuda-alloc-conf)",
     IncidentKind::kOom, "torch-oom-2.4"},
    {"RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 10.76 GiB total "
     "capacity; 9.50 GiB already allocated; 13.44 MiB free; 9.66 GiB reserved in total by "
     "PyTorch) If reserved memory is >> allocated memory try setting max_split_size_mb to avoid "
     "fragmentation.",
     IncidentKind::kOom, "torch-oom-2.0"},
    {"torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 496.00 MiB. GPU 0 has a "
     "total capacty of 14.75 GiB of which 235.06 MiB is free. Process 20398 has 14.52 GiB memory "
     "in use. Of the allocated memory 14.06 GiB is allocated by PyTorch, and 330.42 MiB is "
     "reserved by PyTorch but unallocated.",
     IncidentKind::kOom, "torch-oom-2.1"},
    {"torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 496.00 MiB. GPU 0 has a "
     "total capacty of 14.75 GiB of which 235.06 MiB is free. Of the allocated memory 14.06 GiB "
     "is allocated by PyTorch, and 330.42 MiB is reserved by PyTorch but unallocated.",
     IncidentKind::kOom, "torch-oom-2.1"},
    {"torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of memory)",
     IncidentKind::kOom, "torch-oom-async"},
    {"RuntimeError: NVML_SUCCESS == r INTERNAL ASSERT FAILED at "
     "\"../c10/cuda/CUDACachingAllocator.cpp\":830",
     IncidentKind::kOomProbable, "torch-nvml-assert"},
    {"RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
     IncidentKind::kOom, "cublas-alloc-failed"},
    {"RuntimeError: CUDA error: out of memory", IncidentKind::kOom, "cuda-error-oom"},
    {"RuntimeError: cuDNN error: CUDNN_STATUS_ALLOC_FAILED", IncidentKind::kOom,
     "cudnn-alloc-failed"},
    {"RuntimeError: cuDNN error: CUDNN_STATUS_NOT_INITIALIZED", IncidentKind::kOomProbable,
     "cudnn-not-initialized"},
    {"ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4096.00 MiB on device 0: cudaMalloc "
     "failed: out of memory",
     IncidentKind::kOom, "ggml-cudamalloc-failed"},
    {"llama_model_load: error loading model: unable to allocate CUDA0 buffer", IncidentKind::kOom,
     "ggml-unable-to-allocate-buffer"},
    {"llama_kv_cache_init: failed to allocate buffer for kv cache", IncidentKind::kOom,
     "llama-kv-cache"},
    {"ValueError: No available memory for the cache blocks. Try increasing "
     "`gpu_memory_utilization` when initializing the engine.",
     IncidentKind::kOom, "vllm-no-cache-blocks"},
    {"ValueError: Free memory on device (6.9/8.0 GiB) on startup is less than desired GPU memory "
     "utilization (0.9, 7.2 GiB). Decrease GPU memory utilization or reduce GPU memory used by "
     "other processes.",
     IncidentKind::kOom, "vllm-startup-free-memory"},
    {"Got an OOM, unloading all loaded models.", IncidentKind::kOom, "comfyui-oom"},
    {"ValueError: To serve at least one request with the models's max seq len (131072), (16.00 "
     "GiB KV cache is needed, which is larger than the available KV cache memory (9.50 GiB).",
     IncidentKind::kOom, "vllm-kv-cache-too-small"},
    {"tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor "
     "with shape[8,4096,4096] and type float on /job:localhost/replica:0/task:0/device:GPU:0 by "
     "allocator GPU_0_bfc",
     IncidentKind::kOom, "tensorflow-oom"},
    {"jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to "
     "allocate 17179869184 bytes.",
     IncidentKind::kOom, "xla-oom"},
    {"To see the GUI go to: http://127.0.0.1:8188", IncidentKind::kReady, "comfyui-ready"},
    {"* Running on local URL:  http://127.0.0.1:7860", IncidentKind::kReady, "gradio-ready"},
    {"OSError: Cannot find empty port in range: 7860-7860.", IncidentKind::kPortClash,
     "gradio-no-empty-port"},
    {"RuntimeError: CUDA error: an illegal memory access was encountered", IncidentKind::kSticky,
     "cuda-illegal-address"},
    {"RuntimeError: CUDA error: unspecified launch failure", IncidentKind::kSticky,
     "cuda-launch-failure"},
    {"RuntimeError: CUDA error: device-side assert triggered", IncidentKind::kSticky,
     "cuda-device-assert"},
    {"NVRM: Xid (PCI:0000:01:00): 79, pid=1234, name=python3, GPU has fallen off the bus.",
     IncidentKind::kDeviceLost, "xid-79"},
    {"NVRM: GPU 0000:01:00.0: GPU has fallen off the bus.", IncidentKind::kDeviceLost,
     "gpu-fallen-off-bus"},
    {"OSError: [Errno 98] Address already in use", IncidentKind::kPortClash, "errno-98"},
    {"Error: listen EADDRINUSE: address already in use :::3000", IncidentKind::kPortClash,
     "eaddrinuse"},
    {"RuntimeError: Current platform can NOT allocate memory block with size larger than 4GB! "
     "Tried to allocate 6.85 GiB (GPU  0; 15.56 GiB total capacity; 0 bytes already allocated; 0 "
     "bytes reserved in total by PyTorch)",
     IncidentKind::kOom, "xpu-block-over-4gb"},
    {"[TRT-LLM] [RANK 1] [E] Failed to initialize executor on rank 1: Executor creation failed "
     "due to insufficient GPU memory.",
     IncidentKind::kOom, "trtllm-insufficient-gpu-memory"},
    {"(raylet) node_manager.cc:3069: 1 Workers (tasks / actors) killed due to memory pressure "
     "(OOM), 0 Workers crashed due to other reasons at node (ID: 351e, IP: 10.95.143.76)",
     IncidentKind::kHostOom, "ray-memory-pressure"},
    {"ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.",
     IncidentKind::kHostOom, "ray-task-low-memory"},
    {"NVRM: GPU6 _kgspIsHeartbeatTimedOut: Heartbeat timed out, currentTimeMs 812751949 "
     "heartbeat 1899482 heartbeatWithOffsetMs 812745879 diff 6070 timeout 5200",
     IncidentKind::kGpuError, "gsp-fsp-timeout"},
    {"NVRM: kfspPollForResponse_IMPL: FSP command timed out", IncidentKind::kGpuError,
     "gsp-fsp-timeout"},
    {"[ERROR] ggml_extend.hpp:70   - ROCm error: out of memory", IncidentKind::kOom,
     "ggml-rocm-error-oom"},
    {"llm-router[15732]: radv/amdgpu: The CS has been cancelled because the context is lost. This "
     "context is innocent.",
     IncidentKind::kSticky, "radv-context-lost"},
    {"Status Message: D:\\a\\_work\\1\\s\\onnxruntime\\core\\providers\\dml\\"
     "DmlExecutionProvider\\src\\MLOperatorAuthorImpl.cpp(2557)\\onnxruntime.dll!00007FFB: "
     "(caller: 00007FFB) Exception(3) tid(1e3c) 887A0005 The GPU device instance has been "
     "suspended. Use GetDeviceRemovedReason to determine the appropriate action.",
     IncidentKind::kSticky, "dxgi-device-removed"},
    {"D3D12 device creation failed: DXGI_ERROR_DEVICE_REMOVED", IncidentKind::kSticky,
     "dxgi-device-removed-name"},
    {"ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 137438953504",
     IncidentKind::kHostOom, "ggml-cpu-buffer-alloc"},
    {"RuntimeError: Native API failed. Native API returns: 20 (UR_RESULT_ERROR_DEVICE_LOST)",
     IncidentKind::kSticky, "level-zero-device-lost"},
    {"ggml_vulkan: Device memory allocation failed: VK_ERROR_DEVICE_LOST", IncidentKind::kSticky,
     "vulkan-device-lost"},
    {"terminate called after throwing an instance of 'vk::DeviceLostError'", IncidentKind::kSticky,
     "vulkan-device-lost-hpp"},
    {"[ 3578.028727] amdgpu 0000:0b:00.0: amdgpu: GPU reset begin!", IncidentKind::kGpuError,
     "amdgpu-gpu-reset"},
    // Held-out set 15.
    {"Error running job: CUDA error: unknown error", IncidentKind::kSticky, "cuda-unknown-error"},
    {"Fail to create cublas handle.", IncidentKind::kOomProbable, "deepspeed-cublas-handle"},
    {"vkQueueSubmit failed -4", IncidentKind::kSticky, "ncnn-vk-device-lost"},
    {"vkAllocateMemory failed -2", IncidentKind::kOom, "ncnn-vk-out-of-device-memory"},
    {"vkAllocateMemory failed -1", IncidentKind::kHostOom, "ncnn-vk-out-of-host-memory"},
    {"NVRM: GPU0 _issueRpcAndWait: rpcSendMessage failed with status 0x0000000f for fn 10 "
     "sequence 759!",
     IncidentKind::kDeviceLost, "nvrm-gpu-is-lost"},
    {"[evhttp_server.cc : 230] NET_LOG: Couldn't bind to port 8501", IncidentKind::kPortClash,
     "evhttp-bind-failed"},
    // Held-out set 16.
    {"RuntimeError: CUDA Error 2, out of memory", IncidentKind::kOom, "tinygrad-cuda-oom"},
    {"[METAL] Command buffer execution failed: Insufficient Memory "
     "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)",
     IncidentKind::kOom, "metal-command-buffer-oom"},
    {"[METAL] Command buffer execution failed: Discarded (victim of GPU error/recovery) "
     "(00000005:kIOGPUCommandBufferCallbackErrorInnocentVictim)",
     IncidentKind::kSticky, "metal-innocent-victim"},
    {"amdgpu 0000:c3:00.0: ring comp_1.1.0 timeout, signaled seq=282498, emitted seq=282500",
     IncidentKind::kGpuError, "amdgpu-ring-timeout"},
    // Held-out set 17.
    {"Error running job: CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling "
     "`cublasCreate(handle)`",
     IncidentKind::kOomProbable, "cublas-not-initialized"},
    {"UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run "
     "some cuda functions before calling NumCudaDevices() that might have already set an error? "
     "Error 2: out of memory",
     IncidentKind::kOom, "torch-cuda-init-oom"},
    {"Error: listen tcp 127.0.0.1:11434: bind: An attempt was made to access a socket in a way "
     "forbidden by its access permissions.",
     IncidentKind::kPortClash, "winsock-10013-bind"},
    // The report's first line wrapped after the colon (journald, a Kubernetes node's log).
    {"kernel: pt_nccl_heartbt invoked oom-killer:", IncidentKind::kHostOom, "kernel-oom-killer"},
    {"NVRM: GPU6 _kgspLogRpcTimeout: ********************************* GSP Timeout "
     "**********************************",
     IncidentKind::kGpuError, "gsp-fsp-timeout"},
    // Held-out sets 18 and 19.
    {"RuntimeError:CUDA error:out of memory", IncidentKind::kOom, "cuda-error-oom-unspaced"},
    {"slurmstepd: error: Detected 1 oom-kill event(s) in StepId=191.batch cgroup. Some of your "
     "processes may have been killed by the cgroup out-of-memory handler.",
     IncidentKind::kHostOom, "slurm-oom-kill"},
    {"slurmstepd: error: Exceeded job memory limit", IncidentKind::kHostOom, "slurm-memory-limit"},
    {"> Memory limit exceeded (16Gi)", IncidentKind::kHostOom, "hf-spaces-memory-limit"},
    {"OutOfMemoryError: CUDA out of memory.", IncidentKind::kOom, "torch-oom-exception-bare"},
    {"ResourceExhaustedError: failed to allocate memory", IncidentKind::kOom,
     "tensorflow-failed-to-allocate"},
    {"  (0) UNKNOWN: Failed to get convolution algorithm. This is probably because cuDNN failed to "
     "initialize, so try looking to see if a warning log message was printed above.",
     IncidentKind::kOomProbable, "tensorflow-cudnn-failed-to-initialize"},
    {"PermissionError: [Errno 13] error while attempting to bind on address ('127.0.0.1', 8188): "
     "You tried to access a socket in a way that is prohibited by the access permissions.",
     IncidentKind::kPortClash, "uvicorn-bind-failed"},
    // Held-out sets 20 and 21.
    {"    3 CUDA Error: out of memory", IncidentKind::kOom, "cuda-error-oom-unspaced"},
    {"[component_container_mt-1] CUDA error at external/libapriltag/april_tagging/"
     "corner_detection/corner_detector.cpp:97 code=2(cudaErrorMemoryAllocation) "
     "\"cudaMalloc((void**)&d_gradient_x2, sizeof(float) * gradient_w * gradient_h)\"",
     IncidentKind::kOom, "cuda-enum-memory-allocation"},
    {"ERROR: Failed to make stream wait on event, cuda err_no:4, err_str:cudaErrorLaunchFailure",
     IncidentKind::kSticky, "cuda-enum-sticky"},
    {"[07/10/2024-14:43:02] [E] Error[1]: [runner.cpp::execute::718] Error Code 1: Myelin (Final "
     "synchronize failed (700))",
     IncidentKind::kSticky, "tensorrt-myelin-sticky"},
    {"Nov 30 23:45:14 S2 kernel: i915 0000:00:02.0: [drm] GPU HANG: ecode 9:1:eed5ef7b, in "
     "frigate.detecto [14106]",
     IncidentKind::kGpuError, "i915-gpu-hang"},
    {"RuntimeError: DataLoader worker (pid 20978) is killed by signal: Killed.",
     IncidentKind::kHostOom, "torch-dataloader-killed"},
};

TEST(ClassifierTest, EveryRealMessageIsRecognised) {
  for (const Case& c : kRealMessages) {
    auto found = Classify(c.line);
    ASSERT_EQ(found.size(), 1u) << c.line;
    EXPECT_EQ(found[0].incident.kind, c.kind) << c.line;
    EXPECT_EQ(found[0].incident.signature, c.signature) << c.line;
    EXPECT_EQ(found[0].incident.line, c.line);
    EXPECT_FALSE(found[0].incident.what.empty());
  }
}

// The scan looks at every 4th byte: each message must be found at every alignment, with text
// before and after it, and at the very end of the line.
// The Winsock "address in use" text in languages the corpus has no case for: its translated
// "(protocol/network address/port)" is what makes it recognisable; a bind error without it
// (permission denied, an address that is not this machine's) is not a port clash.
TEST(ClassifierTest, WinsockAddressInUseInAnyLanguage) {
  const char* in_use[] = {
      "Error: listen tcp 0.0.0.0:8188: bind: Normalerweise darf jede Socketadresse (Protokoll, "
      "Netzwerkadresse oder Anschluss) nur jeweils einmal verwendet werden.",
      "Error: listen tcp 127.0.0.1:11434: bind: "
      "通常每个套接字地址(协议/网络地址/端口)只允许使用一次。",
      "Error: listen tcp 127.0.0.1:7860: bind: Une seule utilisation de chaque adresse de socket "
      "(protocole/adresse réseau/port) est habituellement autorisée.",
  };
  auto de = Classify(in_use[0]);
  ASSERT_EQ(de.size(), 1u) << "German writes the triple with commas: a literal of its own";
  EXPECT_EQ(de[0].incident.signature, "winsock-10048-de");
  for (const char* line : {in_use[1], in_use[2]}) {
    auto found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.kind, IncidentKind::kPortClash) << line;
    EXPECT_EQ(found[0].incident.signature, "winsock-10048-localised") << line;
    EXPECT_TRUE(found[0].incident.fields.port.has_value()) << line;
  }
  EXPECT_TRUE(Classify("Error: listen tcp 0.0.0.0:80: bind: permission denied").empty());
  EXPECT_TRUE(Classify("listen tcp 10.0.0.9:8080: bind: cannot assign requested address").empty());
}

// XLA's one-letter binary suffixes: 15.65G is 15.65 × 2^30 bytes, rounded.
TEST(ClassifierTest, XlaDeviceBufferWordingWithLetterSuffixes) {
  auto found = Classify(
      "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Error allocating device buffer: "
      "Attempting to allocate 512.0M. That was not possible. There are 64K free.; (0x0x0_HBM0)");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kOom);
  EXPECT_EQ(found[0].incident.fields.requested, Bytes(std::uint64_t{512} << 20));
  EXPECT_EQ(found[0].incident.fields.free, Bytes(std::uint64_t{64} << 10));
  EXPECT_FALSE(found[0].incident.fields.gpu.has_value());
}

// Failures whose words end their line (held-out sets 19–21): matched there, not inside prose.
TEST(ClassifierTest, WordingsThatEndTheirLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"[06/24/2022-16:29:37] [TRT] [E] 1: Unexpected exception std::bad_alloc", "cpp-bad-alloc"},
      {"terminate called after throwing an instance of 'std::bad_alloc'", "cpp-bad-alloc"},
      {"Error in image_to_3d: Allocation on device ", "comfyui-dialog-allocation"},
  };
  for (const auto& [line, signature] : cases) {
    auto found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.signature, signature) << line;
  }
  // The GPU libraries' own bad_alloc is a GPU failure.
  auto rmm = Classify("MemoryError: std::bad_alloc: out_of_memory: CUDA error at: rmm.hpp");
  ASSERT_EQ(rmm.size(), 1u);
  EXPECT_EQ(rmm[0].incident.kind, IncidentKind::kOom);
  EXPECT_TRUE(Classify("catch (const std::bad_alloc& e) { retry(); }").empty());
}

// Python's MemoryError closing a line after a colon (AUTOMATIC1111: "loading stable diffusion
// model: MemoryError"), as at a line's start; a sentence about it is not one.
TEST(ClassifierTest, PythonMemoryErrorAfterAColonEndsTheLine) {
  for (const char* line :
       {"loading stable diffusion model: MemoryError", "MemoryError",
        "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 3.00 GiB"}) {
    auto found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom) << line;
  }
  EXPECT_TRUE(Classify("note: MemoryError is raised when an allocation fails").empty());
}

TEST(ClassifierTest, EveryRealMessageAtEveryAlignment) {
  for (const Case& c : kRealMessages) {
    for (std::size_t pad = 0; pad < 8; ++pad) {
      for (const char* suffix : {"", " (more text)"}) {
        std::string line = std::string(pad, '>') + " " + c.line + suffix;
        auto found = Classify(line);
        ASSERT_EQ(found.size(), 1u) << "pad " << pad << ": " << line;
        EXPECT_EQ(found[0].incident.signature, c.signature) << "pad " << pad << ": " << line;
      }
    }
  }
}

TEST(ClassifierTest, ProseThatMentionsOutOfMemoryIsNotAnIncident) {
  const char* prose[] = {
      // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one help line, split to fit
      "  --lowvram             Split the unet in parts to use less vram. Use this if you run out "
      "of memory.",
      "--lowvram: use this if you run out of memory",
      "Tips to avoid CUDA out of memory: lower the batch size",
      "If you see CUDA out of memory errors, set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
      "help: --gpu-memory-utilization  fraction of GPU memory (out of memory errors: lower it)",
      "WARNING: the process may run out of memory on GPU 0",
      "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
      "    except torch.OutOfMemoryError:",
      "    except torch.cuda.OutOfMemoryError:",
      "INFO:     127.0.0.1:51234 - \"POST /generate HTTP/1.1\" 200 OK",
      "NVRM: Xid (PCI:0000:01:00): 13, Graphics Exception",
      // A bind that failed for another reason than a port in use (held-out set 19).
      "ERROR:    [Errno 99] error while attempting to bind on address ('::1', 5173, 0, 0): cannot "
      "assign requested address",
      "ERROR:    [Errno 13] error while attempting to bind on address ('0.0.0.0', 80): permission "
      "denied",
      "",
  };
  for (const char* line : prose) EXPECT_TRUE(Classify(line).empty()) << line;
}

TEST(ClassifierTest, AnsiColoursCrlfAndTrailingSpacesAreIgnored) {
  auto found = Classify(
      "\x1b[1;31mRuntimeError: CUDA error: \x1b[0man illegal memory access was encountered  \r\n"
      "\x1b[32mINFO\x1b[0m:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)\r\n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kSticky);
  EXPECT_EQ(found[0].incident.line,
            "RuntimeError: CUDA error: an illegal memory access was encountered");
  EXPECT_EQ(found[1].incident.kind, IncidentKind::kReady);
  EXPECT_EQ(found[1].incident.fields.port, 8000);
}

TEST(ClassifierTest, ComfyUiTracebackIsOneIncidentWithTheFirstLinesNumbers) {
  auto found = Classify(Fixture("comfyui_oom.log"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kReady);
  EXPECT_EQ(found[0].incident.fields.port, 8188);
  const Found& oom = found[1];
  EXPECT_EQ(oom.line_no, 20) << "emitted at the first decisive line, not at the traceback's end";
  EXPECT_EQ(oom.incident.kind, IncidentKind::kOom);
  EXPECT_EQ(oom.incident.signature, "torch-oom");
  EXPECT_EQ(oom.incident.fields.requested, Bytes((210ull << 30) / 100 + 0));
  EXPECT_EQ(oom.incident.fields.gpu, 0);
  ASSERT_EQ(oom.incident.fields.processes.size(), 1u);
  EXPECT_EQ(oom.incident.fields.processes[0].pid, 4242);
  ASSERT_FALSE(oom.incident.context.empty());
  EXPECT_NE(oom.incident.context.back().find("9/20"), std::string::npos)
      << "outside a traceback the context is the lines before";
}

// ComfyUI on the cudaMallocAsync backend: the message says nothing but the exception type. ComfyUI
// prints it first ("!!! Exception during processing !!! Allocation on device"): the incident is
// that line; the traceback ending in the exception and "Got an OOM" fold into it.
TEST(ClassifierTest, ComfyUiAsyncOomIsOneIncidentAtComfyUisOwnLine) {
  auto found = Classify(Fixture("comfyui_async_oom.log"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].line_no, 5);
  EXPECT_EQ(found[0].incident.signature, "comfyui-exception-allocation");
  EXPECT_EQ(found[0].incident.line, "!!! Exception during processing !!! Allocation on device");
  EXPECT_EQ(found[0].incident.context.size(), 4u);
  EXPECT_EQ(found[0].incident.fields.Count(), 0);
}

TEST(ClassifierTest, TracebackEndingInTheCauseCarriesItsLines) {
  auto found = Classify(Fixture("torch_sticky.log"));
  ASSERT_EQ(found.size(), 1u);
  const Incident& i = found[0].incident;
  EXPECT_EQ(found[0].line_no, 7);
  EXPECT_EQ(i.kind, IncidentKind::kSticky);
  ASSERT_EQ(i.context.size(), 5u);
  EXPECT_EQ(i.context.front(), "Traceback (most recent call last):");
  EXPECT_EQ(i.context.back(), "    return self._call_impl(*args, **kwargs)");
}

TEST(ClassifierTest, TracebackContextIsBounded) {
  std::string log = "Traceback (most recent call last):\n";
  for (int i = 0; i < 500; ++i) {
    log += "  File \"/x.py\", line " + std::to_string(i) + ", in f\n    f()\n";
  }
  log += "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB.\n";
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.context.size(), Classifier::kContextLines);
  EXPECT_EQ(found[0].incident.context.back(), "    f()");
}

TEST(ClassifierTest, VllmLogsTheCauseTwiceButItIsOneIncident) {
  auto found = Classify(Fixture("vllm_startup.log"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].line_no, 4);
  EXPECT_EQ(found[0].incident.engine, "vllm");
  EXPECT_EQ(found[0].incident.fields.capacity, Bytes(8ull << 30));
}

TEST(ClassifierTest, LlamaCppThreeLinesOneCause) {
  auto found = Classify(Fixture("llama_oom.log"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "ggml-cudamalloc-failed");
  EXPECT_EQ(found[0].incident.fields.requested, Bytes(4ull << 30));
  EXPECT_EQ(found[0].incident.fields.gpu, 0);
}

// TensorRT-LLM's executor report: the message, a blank line, a line naming the component (no
// size), then the sizes. One line without a size may be passed over after a blank line; the
// sizes still complete the incident. A second line without one ends the message.
TEST(ClassifierTest, TrtllmReportSizesAfterABlankLineAndTheComponentLine) {
  const std::string report =
      "RuntimeError: Executor creation failed due to insufficient GPU memory.\n"
      "\n"
      "The following component could not be created: Additional executor resources\n"
      "Total GPU memory (GiB): 95.00\n"
      "Free GPU memory before component creation attempt (GiB): 16.95\n";
  auto found = Classify(report);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "trtllm-insufficient-gpu-memory");
  EXPECT_EQ(found[0].incident.fields.capacity, Bytes(95ull << 30));
  EXPECT_EQ(found[0].incident.fields.free, Bytes(18199923917ull));  // 16.95 GiB
  const std::string later =
      "RuntimeError: Executor creation failed due to insufficient GPU memory.\n"
      "\n"
      "using GPU 3\n"
      "another line\n"
      "Total GPU memory (GiB): 95.00\n";
  found = Classify(later);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].incident.fields.capacity.has_value());
}

// Held-out set 15's new wordings stay specific: wgpu's phrase only on a line of its own, ncnn's
// codes only after a Vulkan call's name, the GSP status only in a driver line.
TEST(ClassifierTest, SetFifteenWordingsDoNotMatchProse) {
  const char* prose[] = {
      "Not enough memory left to cache the thumbnails; skipping",
      "the job failed -4 times in a row",
      "retry vkQueueSubmit failed -42 times",
      "status 0x0000000f returned by the plugin",
      "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  580.159.04",
  };
  for (const char* line : prose) EXPECT_TRUE(Classify(line).empty()) << line;
  // wgpu's cause line, as Burn's panic prints it (indented, alone; newer wgpu adds a full stop).
  for (const char* line : {"    Not enough memory left", "    Not enough memory left."}) {
    auto found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.signature, "wgpu-out-of-memory");
  }
}

// llama.cpp's KV-cache failure right after a CPU buffer failure is the same host-RAM cause; on
// its own (no CPU buffer line before it) it is a GPU oom.
TEST(ClassifierTest, KvCacheAfterACpuBufferFailureIsTheSameHostOom) {
  const std::string log =
      "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 17179869216\n"
      "llama_kv_cache_init: failed to allocate buffer for kv cache\n"
      "llama_new_context_with_model: llama_kv_cache_init() failed for self-attention cache\n";
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom);
  EXPECT_EQ(found[0].incident.signature, "ggml-cpu-buffer-alloc");
  found = Classify("llama_kv_cache_init: failed to allocate buffer for kv cache\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kOom);
}

TEST(ClassifierTest, KernelXidIsOneDeviceLost) {
  auto found = Classify(Fixture("kernel_xid.log"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kDeviceLost);
  EXPECT_EQ(found[0].incident.fields.xid, 79);
  EXPECT_EQ(found[0].incident.fields.pci_bus, "0000:01:00");
}

TEST(ClassifierTest, GradioPortClashNamesThePort) {
  auto found = Classify(Fixture("gradio_port_clash.log"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kPortClash);
  EXPECT_EQ(found[0].incident.fields.port, 7860);
  EXPECT_EQ(found[0].incident.context.front(), "Traceback (most recent call last):");
}

TEST(ClassifierTest, SeparateCausesFarApartAreSeparateIncidents) {
  std::string log = "RuntimeError: CUDA error: out of memory\n";
  for (int i = 0; i < Classifier::kMergeLines; ++i) log += "INFO: request done\n";
  log += "RuntimeError: CUDA error: out of memory\n";                             // 12: too far
  log += "RuntimeError: CUDA error: an illegal memory access was encountered\n";  // other family
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[1].line_no, 12);
  EXPECT_EQ(found[2].incident.kind, IncidentKind::kSticky);
}

TEST(ClassifierTest, RepeatsExtendTheWindow) {
  std::string log;
  for (int i = 0; i < 30; ++i) log += "ggml: unable to allocate CUDA0 buffer\nretrying\n";
  EXPECT_EQ(Classify(log).size(), 1u);
}

TEST(ClassifierTest, ProbableUpgradedByACertainOomButNotTheOtherWayRound) {
  auto up = Classify(
      "RuntimeError: cuDNN error: CUDNN_STATUS_NOT_INITIALIZED\n"
      "RuntimeError: CUDA error: out of memory\n");
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[1].incident.kind, IncidentKind::kOom);
  auto down = Classify(
      "RuntimeError: CUDA error: out of memory\n"
      "RuntimeError: cuDNN error: CUDNN_STATUS_NOT_INITIALIZED\n");
  EXPECT_EQ(down.size(), 1u);
}

TEST(ClassifierTest, ChainedTracebacksAreOneIncident) {
  std::string log =
      "Traceback (most recent call last):\n"
      "  File \"a.py\", line 1, in <module>\n"
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB. GPU 0 has a total "
      "capacity of 8.00 GiB of which 0 bytes is free.\n"
      "\n"
      "During handling of the above exception, another exception occurred:\n"
      "\n"
      "Traceback (most recent call last):\n";
  for (int i = 0; i < 20; ++i) log += "  File \"b.py\", line 2, in handler\n    cleanup()\n";
  log += "RuntimeError: CUDA error: out of memory\n";
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].line_no, 3);
  EXPECT_EQ(found[0].incident.fields.free, Bytes(0));
}

TEST(ClassifierTest, WorkerPrefixedTraceback) {
  std::string log =
      "(VllmWorkerProcess pid=812) ERROR 11-27 02:10:20 worker.py:12] Traceback (most recent call "
      "last):\n"
      "(VllmWorkerProcess pid=812) ERROR 11-27 02:10:20 worker.py:12]   File \"w.py\", line 3\n"
      "(VllmWorkerProcess pid=812) ERROR 11-27 02:10:20 worker.py:12] RuntimeError: CUDA error: "
      "unspecified launch failure\n";
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.context.size(), 2u);
}

TEST(ClassifierTest, UserPatternsComeFirstLiteralOrRegex) {
  Classifier c({
      Signature{"", IncidentKind::kOom, "", "MyEngine: VRAM exhausted", false, "engine OOM", ""},
      Signature{"", IncidentKind::kSticky, "", "XLA error [0-9]+: poisoned", true, "xla", ""},
      Signature{"", IncidentKind::kReady, "", "([", true, "invalid: skipped", ""},
      Signature{"mine", IncidentKind::kOomProbable, "", "CUDA error: out of memory", false,
                "overridden", ""},
  });
  auto found = FeedAll(c,
                       "x MyEngine: VRAM exhausted (3 GiB)\n"
                       "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
                       "XLA error 17: poisoned context\n"
                       "RuntimeError: CUDA error: out of memory\n");
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].incident.signature, "user:1");
  EXPECT_EQ(found[0].incident.engine, "user");
  EXPECT_EQ(found[0].incident.what, "engine OOM");
  EXPECT_EQ(found[1].incident.kind, IncidentKind::kSticky);
  EXPECT_EQ(found[1].incident.signature, "user:2");
  EXPECT_EQ(found[2].incident.signature, "mine");
  EXPECT_EQ(found[2].incident.kind, IncidentKind::kOomProbable);
}

// A user regex is anchored on a literal that every match must contain (so ordinary lines never
// reach it); the anchor must never make it miss a line that the regex matches.
TEST(ClassifierTest, UserRegexesMatchWhateverTheirLiteralsAnchorOn) {
  struct RegexCase {
    const char* regex;
    std::vector<const char*> matching, other;
  };
  const RegexCase cases[] = {
      // Optional last character of a run: "colou" must not be the anchor.
      {"VRAM colou?r exhausted", {"x VRAM color exhausted", "VRAM colour exhausted"}, {"VRAM"}},
      {"allocator: ab*c failed hard",
       {"allocator: ac failed hard", "allocator: abbc failed hard"},
       {"allocator: failed hard"}},
      {"retries{0,3} exhausted now",
       {"retrie exhausted now", "retriesss exhausted now"},
       {"retries exhausted"}},
      // Alternation: neither side is required.
      {"engine died|VRAM gone", {"VRAM gone", "the engine died"}, {"engine gone"}},
      // Optional groups and classes take no part in the anchor.
      {"(worker [0-9]+: )?out of VRAM", {"out of VRAM", "worker 3: out of VRAM"}, {"out of RAM"}},
      {"[Ee]ngine stopped: no memory",
       {"Engine stopped: no memory", "engine stopped: no memory"},
       {"ngine stopped: no mem"}},
      {"GPU\\s+[0-9]+ memory exhausted", {"GPU  1 memory exhausted"}, {"GPU memory exhausted"}},
  };
  for (const RegexCase& rc : cases) {
    for (const char* line : rc.matching) {
      Classifier c({Signature{"", IncidentKind::kOom, "", rc.regex, true, "", ""}});
      EXPECT_EQ(c.Feed(line).size(), 1u) << rc.regex << " on " << line;
    }
    for (const char* line : rc.other) {
      Classifier c({Signature{"", IncidentKind::kOom, "", rc.regex, true, "", ""}});
      EXPECT_TRUE(c.Feed(line).empty()) << rc.regex << " on " << line;
    }
  }
}

TEST(ClassifierTest, ShortUserLiteral) {
  // Too short for the one-pass filter: searched in every line, case-sensitively.
  Classifier c({Signature{"", IncidentKind::kOom, "", "OOM", false, "", ""}});
  auto found = FeedAll(c, "fine\nzoom\nengine OOM\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].line_no, 3);
  EXPECT_EQ(found[0].incident.line, "engine OOM");
  EXPECT_EQ(found[0].incident.signature, "user:1");
}

TEST(ClassifierTest, VeryLongLinesAreBounded) {
  std::string junk(1 << 20, 'x');
  auto found = Classify(junk + "RuntimeError: CUDA error: out of memory");
  EXPECT_TRUE(found.empty()) << "matching looks at the first kMatchBytes only";
  auto head = Classify("RuntimeError: CUDA error: out of memory" + junk);
  ASSERT_EQ(head.size(), 1u);
  EXPECT_EQ(head[0].incident.line.size(), Classifier::kLineBytes);
  std::string long_prefix(Classifier::kMatchBytes - 100, ' ');
  EXPECT_EQ(Classify(long_prefix + "Got an OOM, unloading all loaded models.").size(), 1u);
}

TEST(ClassifierTest, UserRegexSeesOnlyTheHeadOfALine) {
  Classifier c({Signature{"", IncidentKind::kOom, "", "VRAM gone$", true, "", ""}});
  EXPECT_EQ(FeedAll(c, "engine: VRAM gone\n").size(), 1u);
  Classifier far({Signature{"", IncidentKind::kOom, "", "VRAM gone$", true, "", ""}});
  EXPECT_TRUE(FeedAll(far, std::string(kMaxMatchLineBytes, 'x') + "VRAM gone\n").empty())
      << "a regex runs over the first kMaxMatchLineBytes of a line only (bounded work)";
}

// Issue 10: user patterns ran on std::regex, which recurses per character: a 40 KB line could
// overflow the daemon's stack. With RE2 the work is linear and the result is right.
TEST(ClassifierTest, FortyKilobyteLineAgainstAUserPatternIsFastAndCorrect) {
  auto start = std::chrono::steady_clock::now();
  Classifier c({Signature{"", IncidentKind::kOom, "", "(x|y)*VRAM (gone|lost)", true, "", ""}});
  EXPECT_EQ(
      FeedAll(c, std::string(100, 'x') + "VRAM gone" + std::string(40 * 1024, 'y') + "\n").size(),
      1u);
  Classifier miss({Signature{"", IncidentKind::kOom, "", ".*(a+)+$", true, "", ""}});
  // Backtracking engines take exponential time on this line (std::regex never finished).
  EXPECT_TRUE(FeedAll(miss, std::string(kMaxMatchLineBytes - 100, 'a') + "b\n").empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST(ClassifierTest, EveryBuiltinRegexIsValidRe2) {
  for (const Signature& sig : BuiltinCatalogue()) {
    if (!sig.regex) continue;
    Result<Pattern> p = Pattern::Compile(sig.match);
    EXPECT_TRUE(p) << sig.id << ": " << (p ? "" : p.error().message);
  }
}

TEST(ClassifierTest, LookaroundInAUserPatternIsRefusedSayingRe2) {
  Result<void> r =
      ValidateSignature(Signature{"", IncidentKind::kOom, "", "OOM(?!ok)", true, "", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("RE2"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().hint.find("lookahead"), std::string::npos) << r.error().hint;
}

TEST(ClassifierTest, ProgressBarSharingTheTracebackLine) {
  auto found = Classify(
      " 45%|████▌     | 9/20 [00:03<00:04]\rTraceback (most recent call last):\n"
      "  File \"x.py\", line 1\n"
      "RuntimeError: CUDA error: device-side assert triggered\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.context.size(), 2u);
}

TEST(ClassifierTest, FlushForgetsTheWindow) {
  Classifier c;
  EXPECT_EQ(c.Feed("RuntimeError: CUDA error: out of memory").size(), 1u);
  c.Flush();
  EXPECT_EQ(c.Feed("RuntimeError: CUDA error: out of memory").size(), 1u);
}

// ---- Issue 13: numbers after the decisive line, GPU boundaries, host memory ----

// cudaMallocAsync (ComfyUI's default allocator) prints its numbers as a table after the line.
TEST(ClassifierFollowTest, CudaMallocAsyncTableCompletesTheIncident) {
  Classifier c;
  std::vector<Incident> first = c.Feed(
      "torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of "
      "memory)");
  ASSERT_EQ(first.size(), 1u);  // at once, with what the line has
  EXPECT_FALSE(first[0].update);
  EXPECT_EQ(first[0].fields.gpu, 0);
  EXPECT_FALSE(first[0].fields.requested);
  std::vector<Incident> updates;
  for (const char* line :
       {"Currently allocated     : 14.52 GiB", "Requested               : 1.88 GiB",
        "Device limit            : 16.00 GiB", "Free (according to CUDA): 0 bytes",
        "PyTorch limit (set by user-supplied memory fraction)",
        "                        : 17179869184.00 GiB"}) {
    for (Incident& i : c.Feed(line)) updates.push_back(std::move(i));
  }
  ASSERT_EQ(updates.size(), 4u);
  for (const Incident& u : updates) {
    EXPECT_TRUE(u.update);
    EXPECT_EQ(u.seq, first[0].seq);
  }
  const IncidentFields& f = updates.back().fields;
  EXPECT_EQ(f.allocated, Bytes(static_cast<std::uint64_t>(std::llround(14.52 * (1ull << 30)))));
  EXPECT_EQ(f.requested, Bytes(static_cast<std::uint64_t>(std::llround(1.88 * (1ull << 30)))));
  EXPECT_EQ(f.capacity, Bytes::GiB(16));
  EXPECT_EQ(f.free, Bytes(0));
  EXPECT_EQ(f.gpu, 0);
}

// llama.cpp's older builds name the device on the line after the error.
TEST(ClassifierFollowTest, GgmlCurrentDeviceOnTheNextLine) {
  int updates = 0;
  Classifier c;
  std::vector<Found> found = FeedAll(c,
                                     "CUDA error 2 at ggml-cuda.cu:6301: out of memory\n"
                                     "  current device: 1\n"
                                     "GGML_ASSERT: ggml-cuda.cu:6301: !\"CUDA error\"\n",
                                     &updates);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "ggml-cuda-error-oom");
  EXPECT_EQ(found[0].incident.fields.gpu, 1);
  EXPECT_EQ(updates, 1);
}

// A logger that wraps at 80 columns cuts "of which" from its number; a handler that right-aligns
// the source location puts "app.py:42" at the end of the first line.
TEST(ClassifierFollowTest, AWrappedMessageIsReadWhole) {
  std::vector<Found> found = Classify(
      "[12/03/26 10:00:00] ERROR    torch.OutOfMemoryError: CUDA out of memory. Tried to      "
      "app.py:42\n"
      "                             allocate 2.00 GiB. GPU 1 has a total capacity of 23.55 GiB of\n"
      "                             which 1.19 GiB is free. Process 1234 has 22.35 GiB memory\n"
      "                             in use.\n"
      "\n"
      "INFO next request: 1 GPU 0 ok\n");
  ASSERT_EQ(found.size(), 1u);
  const IncidentFields& f = found[0].incident.fields;
  EXPECT_EQ(f.requested, Bytes::GiB(2));
  EXPECT_EQ(f.gpu, 1);
  EXPECT_EQ(f.capacity, Bytes(static_cast<std::uint64_t>(std::llround(23.55 * (1ull << 30)))));
  EXPECT_EQ(f.free, Bytes(static_cast<std::uint64_t>(std::llround(1.19 * (1ull << 30)))));
  ASSERT_EQ(f.processes.size(), 1u);
  EXPECT_EQ(f.processes[0].pid, 1234);
}

// Numbers are only taken from the message itself: after a blank line, or past kFollowLines,
// nothing fills the incident (the "GPU 0" of an unrelated later line stays out).
TEST(ClassifierFollowTest, NothingIsTakenFromAfterTheMessage) {
  int updates = 0;
  Classifier c;
  std::string text = "RuntimeError: CUDA error: out of memory\n\nusing GPU 3 for the next job\n";
  for (long i = 0; i < Classifier::kFollowLines + 1; ++i)
    text += "step " + std::to_string(i) + "\n";
  text += "Tried to allocate 9.00 GiB. GPU 4\n";
  std::vector<Found> found = FeedAll(c, text, &updates);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].incident.fields.gpu);
  EXPECT_FALSE(found[0].incident.fields.requested);
  EXPECT_EQ(updates, 0);
}

// One cause per GPU: errors on two GPUs within the merge window are two incidents.
TEST(ClassifierGpuBoundaryTest, OomsOnTwoGpusAreTwoIncidents) {
  std::vector<Found> found = Classify(
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
      "capacity of 23.55 GiB of which 1.19 GiB is free.\n"
      "worker 2 failed\n"
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB. GPU 1 has a total "
      "capacity of 23.55 GiB of which 0 bytes is free.\n"
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB. GPU 1 has a total "
      "capacity of 23.55 GiB of which 0 bytes is free.\n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].incident.fields.gpu, 0);
  EXPECT_EQ(found[1].incident.fields.gpu, 1);
}

TEST(ClassifierGpuBoundaryTest, XidsOnTwoBusesAreTwoIncidents) {
  std::vector<Found> found = Classify(
      "NVRM: Xid (PCI:0000:01:00): 79, pid=1234, name=python3, GPU has fallen off the bus.\n"
      "NVRM: GPU 0000:01:00.0: GPU has fallen off the bus.\n"
      "NVRM: Xid (PCI:0000:41:00): 79, pid=1240, name=python3, GPU has fallen off the bus.\n"
      "NVRM: GPU 0000:41:00.0: GPU has fallen off the bus.\n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].incident.fields.pci_bus, "0000:01:00");
  EXPECT_EQ(found[1].incident.fields.pci_bus, "0000:41:00");
}

// A log whose every line is indented (a paste, a wrapper's prefix of spaces) still merges one
// cause's lines (the merge window counts from the first line, not from the first unindented one).
TEST(ClassifierGpuBoundaryTest, AnAllIndentedLogStillMergesOneCause) {
  std::vector<Found> found = Classify(
      "   ggml_backend_cuda_buffer_type_alloc_buffer: allocating 204800.00 MiB on device 0: "
      "cudaMalloc failed: out of memory\n"
      "   llama_kv_cache_init: failed to allocate buffer for kv cache\n"
      "   llama_init_from_model: llama_kv_cache_init() failed for self-attention cache\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "ggml-cudamalloc-failed");
}

// A long line before an incident's own record lends it nothing: its "GPU 3" is another message's.
TEST(ClassifierFollowTest, TheLineBeforeARecordLendsItNoNumbers) {
  std::vector<Found> found = Classify(
      "INFO 12-03 10:00:00 worker.py:120] Loading the model on GPU 3 took 12.5 s, 14.2 GiB in use\n"
      "RuntimeError: CUDA error: out of memory\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].incident.fields.gpu);
}

// A ready line between two OOMs: the service started again, a new cause.
TEST(ClassifierGpuBoundaryTest, AReadyLineStartsANewIncident) {
  std::vector<Found> found = Classify(
      "RuntimeError: CUDA error: out of memory\n"
      "* Running on local URL:  http://127.0.0.1:7860\n"
      "RuntimeError: CUDA error: out of memory\n");
  std::vector<IncidentKind> kinds;
  for (const Found& f : found) kinds.push_back(f.incident.kind);
  EXPECT_EQ(kinds, (std::vector<IncidentKind>{IncidentKind::kOom, IncidentKind::kReady,
                                              IncidentKind::kOom}));
}

// Recent drivers: no Xid, the message over three NVRM lines, the bus on the first.
TEST(ClassifierGpuBoundaryTest, SplitFallenOffTheBusNamesTheBus) {
  std::vector<Found> found = Classify(
      "NVRM: The NVIDIA GPU 0000:41:00.0\n"
      "NVRM: (PCI ID: 10de:2684) installed in this system has\n"
      "NVRM: fallen off the bus and is not responding to commands.\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kDeviceLost);
  EXPECT_EQ(found[0].incident.fields.pci_bus, "0000:41:00.0");
}

// An allocator that names the CPU ran out of host RAM: never a GPU OOM.
TEST(ClassifierHostMemoryTest, CpuAllocatorsAreHostOom) {
  const char* lines[] = {
      "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor "
      "with shape[1048576,4096] and type float on /job:localhost/replica:0/task:0/device:CPU:0 by "
      "allocator cpu",
      "RuntimeError: [enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't "
      "allocate memory: you tried to allocate 3221225472 bytes. Error code 12 (Cannot allocate "
      "memory)",
      "RuntimeError: [enforce fail at C:\\cb\\pytorch_1000000000000\\work\\c10\\core\\impl\\alloc_"
      "cpu.cpp:72] data. DefaultCPUAllocator: not enough memory: you tried to allocate 58982400 "
      "bytes."};
  for (const char* line : lines) {
    std::vector<Found> found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom) << line;
    EXPECT_FALSE(found[0].incident.fields.gpu) << line;
  }
  EXPECT_EQ(Classify(lines[1])[0].incident.fields.requested, Bytes(3221225472));
  // The same TensorFlow message on a GPU is a GPU OOM.
  std::vector<Found> gpu = Classify(
      "ResourceExhaustedError: OOM when allocating tensor with shape[8,4096,4096] and type float "
      "on "
      "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc");
  ASSERT_EQ(gpu.size(), 1u);
  EXPECT_EQ(gpu[0].incident.kind, IncidentKind::kOom);
}

// Exact bytes where the message gives them beside a rounded size.
TEST(ClassifierFieldsTest, ExactBytesBesideARoundedSize) {
  std::vector<Found> tf = Classify(
      "2019-05-01 10:00:00.000000: E tensorflow/stream_executor/cuda/cuda_driver.cc:806] failed "
      "to allocate 3.77G (4046333952 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY: out of memory");
  ASSERT_EQ(tf.size(), 1u);
  EXPECT_EQ(tf[0].incident.kind, IncidentKind::kOom);
  EXPECT_EQ(tf[0].incident.fields.requested, Bytes(4046333952));
  std::vector<Found> jax = Classify(
      "jax._src.traceback_util.UnfilteredStackTrace: RuntimeError: Resource exhausted: Failed to "
      "allocate request for 32.00MiB (33554432B) on device ordinal 0");
  ASSERT_EQ(jax.size(), 1u);
  EXPECT_EQ(jax[0].incident.fields.requested, Bytes(33554432));
  EXPECT_EQ(jax[0].incident.fields.gpu, 0);
}

// Forms written with the reader's eyes in mind: thousands separators, NCCL's device in its
// prefix, and the sticky errors every CUDA wrapper spells its own way.
TEST(ClassifierFieldsTest, GroupedBytesNcclDeviceAndStickySpellings) {
  std::vector<Found> cupy = Classify(
      "Exception in main training loop: Out of memory allocating 25,600,000 bytes (allocated so "
      "far: 3,635,267,072 bytes).");
  ASSERT_EQ(cupy.size(), 1u);
  EXPECT_EQ(cupy[0].incident.kind, IncidentKind::kOom);
  EXPECT_EQ(cupy[0].incident.fields.requested, Bytes(25600000));
  // Not a grouped number: a comma list, a group of four.
  EXPECT_FALSE(Classify("Out of memory allocating 25,6000 bytes (allocated so far: 1 bytes)")
                   .at(0)
                   .incident.fields.requested);

  std::vector<Found> nccl =
      Classify("node-7:3018451:3018451 [3] enqueue.cc:1085 NCCL WARN Cuda failure 'out of memory'");
  ASSERT_EQ(nccl.size(), 1u);
  EXPECT_EQ(nccl[0].incident.fields.gpu, 3);

  for (const char* line : {
           "CUDA error 716 [/usr/local/cuda/include/cub/util_device.cuh, 351]: misaligned address",
           "  what():  after reduction step 1: cudaErrorMisalignedAddress: misaligned address",
           "RuntimeError: CUDA error: uncorrectable ECC error encountered",
           "failed call to cuDevicePrimaryCtxRetain: CUDA_ERROR_ECC_UNCORRECTABLE: uncorrectable",
           "Error while invoking session: CUDA error: the launch timed out and was terminated",
       }) {
    std::vector<Found> found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.kind, IncidentKind::kSticky) << line;
  }
  for (const char* line : {
           "[FT][ERROR] CUDA runtime error: out of memory /workspace/ft/src/utils/allocator.h:220",
           "[E] [defaultAllocator.cpp::allocate::19] Error code 1: Cuda Runtime (out of memory)",
           "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")",
       }) {
    std::vector<Found> found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.kind, IncidentKind::kOom) << line;
  }
  EXPECT_EQ(Classify("[E] [virtualMemoryBuffer.cpp::resizePhysical::140] Error code 2: out of "
                     "Memory (Requested size was 22942842880 bytes.)")
                .at(0)
                .incident.fields.requested,
            Bytes(22942842880));
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

// The log's own clock (core/log_time.h) splits and joins what line counts alone cannot.
TEST(ClassifierLogClockTest, TwoKernelOomKillsHoursApartAreTwoIncidents) {
  auto found = Classify(
      "[441280.839852] Out of memory: Killed process 698405 (python) total-vm:49978204kB\n"
      "[441281.626336] oom_reaper: reaped process 698405 (python), now anon-rss:0kB\n"
      "[448212.100902] sunloginclient invoked oom-killer: gfp_mask=0x100cca, order=0\n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom);
  EXPECT_EQ(found[0].incident.signature, "kernel-oom-killed-process");
  EXPECT_EQ(found[1].incident.signature, "kernel-oom-killer");
  // Without the clock the same three lines are one cause (near by lines).
  auto untimed = Classify(
      "Out of memory: Killed process 698405 (python) total-vm:49978204kB\n"
      "oom_reaper: reaped process 698405 (python), now anon-rss:0kB\n"
      "sunloginclient invoked oom-killer: gfp_mask=0x100cca, order=0\n");
  EXPECT_EQ(untimed.size(), 1u);
}

TEST(ClassifierLogClockTest, OneKernelOomReportIsOneIncidentHoweverLong) {
  std::string log = "[594646.252242] python invoked oom-killer: gfp_mask=0x14200ca, order=0\n";
  for (int pid = 1000; pid < 1600; ++pid) {  // the report's task table: 600 lines
    log += "[594646.2530" + std::to_string(pid % 100) + "] [ " + std::to_string(pid) + "]  1000 " +
           std::to_string(pid) + "  12345  678  0 python\n";
  }
  log += "[594646.260000] Out of memory: Killed process 29918 (python) total-vm:1kB\n";
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "kernel-oom-killer");
}

TEST(ClassifierLogClockTest, BfcFailureItsChunkDumpAndTheErrorAreOneIncident) {
  std::string log =
      "2019-08-18 03:55:10.593121: W tensorflow/core/common_runtime/bfc_allocator.cc:419] "
      "Allocator (GPU_0_bfc) ran out of memory trying to allocate 1.25TiB (rounded to "
      "1374521760000)requested by op Conv2D\n";
  for (int i = 0; i < 400; ++i) {
    log += "2019-08-18 03:55:10.6" + std::to_string(10000 + i) +
           ": I tensorflow/core/common_runtime/bfc_allocator.cc:905] Chunk at 0x7f0 of size 256\n";
  }
  log +=
      "2019-08-18 03:55:10.901000: W tensorflow/core/framework/op_kernel.cc:1502] OP_REQUIRES "
      "failed at conv_ops.cc:486 : Resource exhausted: OOM when allocating tensor with "
      "shape[8,64,512,512] and type float on /job:localhost/replica:0/task:0/device:GPU:0 by "
      "allocator GPU_0_bfc\n";
  auto found = Classify(log);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "bfc-allocator-oom");
  EXPECT_EQ(found[0].incident.fields.requested, Bytes{1374521760000});
  EXPECT_TRUE(found[0].incident.fields.requested_exact);
  EXPECT_EQ(found[0].incident.fields.gpu, 0);
  // The warning form is not a failure.
  EXPECT_TRUE(Classify("2019-08-18 03:55:10.593121: W bfc_allocator.cc:237] Allocator (GPU_0_bfc) "
                       "ran out of memory trying to allocate 2.14GiB with freed_by_count=0. The "
                       "caller indicates that this is not a failure\n")
                  .empty());
}

TEST(ClassifierLogClockTest, TheClockNeverMergesAcrossGpusOrLongGaps) {
  // Same second, two GPUs: two incidents (the GPU boundary comes first).
  auto found = Classify(
      "2024-01-01 10:00:00.1 torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 "
      "GiB. GPU 0 has a total capacity of 79.18 GiB\n"
      "2024-01-01 10:00:00.2 torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 "
      "GiB. GPU 1 has a total capacity of 79.18 GiB\n");
  EXPECT_EQ(found.size(), 2u);
  // Adjacent lines a day apart: two causes.
  found = Classify(
      "2024-01-01 10:00:00 RuntimeError: CUDA error: an illegal memory access was encountered\n"
      "2024-01-02 10:00:00 RuntimeError: CUDA error: an illegal memory access was encountered\n");
  EXPECT_EQ(found.size(), 2u);
}

TEST(ClassifierProseTest, FallenOffTheBusQuotedInASentenceIsNotTheGpuFalling) {
  for (const char* line :
       {"Addresses XID 79 (GPU has fallen off the bus) scenarios by changing the severity",
        "Does dmesg -T contain the infamous message \"GPU has fallen off the bus\"?",
        "search for `GPU has fallen off the bus` in the journal"}) {
    EXPECT_TRUE(Classify(line).empty()) << line;
  }
  auto found = Classify("[ 1234.5] NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kDeviceLost);
}

TEST(ClassifierFieldsTest, OtherBackendsAndLibrariesStateTheirNumbers) {
  // Apple's MPS writes binary sizes as "GB".
  auto mps = Classify(
      "RuntimeError: MPS backend out of memory (MPS allocated: 12.74 GB, other allocations: "
      "4.39 GB, max allowed: 18.13 GB). Tried to allocate 1.02 GB on private pool.");
  ASSERT_EQ(mps.size(), 1u);
  EXPECT_EQ(mps[0].incident.fields.requested, Bytes{1095216660});
  // XGBoost's table after the decisive line, in bytes.
  auto xgb = Classify(
      "Memory allocation error on worker 0: std::bad_alloc: cudaErrorMemoryAllocation: out of "
      "memory\n- Free memory: 8126464\n- Requested memory: 33554432\n");
  ASSERT_EQ(xgb.size(), 1u);
  EXPECT_EQ(xgb[0].incident.fields.requested, Bytes{33554432});
  EXPECT_EQ(xgb[0].incident.fields.free, Bytes{8126464});
  // CatBoost's MiB written "MB".
  auto cb = Classify(
      "(NCudaLib::TOutOfMemoryError) stack_like_memory_pool.h:303: Error: Out of memory. "
      "Requested 776.3222656 MB; Free 676.4537106 MB");
  ASSERT_EQ(cb.size(), 1u);
  EXPECT_EQ(cb[0].incident.fields.requested, Bytes{814032896});
  EXPECT_EQ(cb[0].incident.fields.free, Bytes{709313126});
  // NCCL's calloc size two lines after its CUDA failure.
  auto nccl = Classify(
      "ng30903:3063028:3066152 [3] include/alloc.h:178 NCCL WARN Cuda failure 'out of memory'\n"
      "ng30903:3063028:3066152 [3] NCCL INFO include/alloc.h:185 -> 1\n"
      "ng30903:3063028:3066152 [3] include/alloc.h:185 NCCL WARN Failed to CUDA calloc 6291456 "
      "bytes\n");
  ASSERT_EQ(nccl.size(), 1u);
  EXPECT_EQ(nccl[0].incident.fields.requested, Bytes{6291456});
}

TEST(ClassifierProseTest, ACudaCallNamedInASentenceIsNotAFailure) {
  EXPECT_TRUE(Classify("The error is exactly what it says, a call to `cudaMalloc` failed with an "
                       "\"out of memory\" error, which is something outside our control.")
                  .empty());
  auto found = Classify("MXNetError: cudaMalloc retry failed: out of memory");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "cuda-call-failed-oom");
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

TEST(ClassifierProseTest, AMarkdownHeadingNamesAnErrorWithoutBeingOne) {
  EXPECT_TRUE(Classify("## CUDA error: an illegal memory access was encountered\n"
                       "This usually means a kernel read out of bounds; try --disable-cuda-graph.")
                  .empty());
  // A shell comment or a one-hash line is not a heading.
  auto found = Classify("# RuntimeError: CUDA error: an illegal memory access was encountered");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kSticky);
}

TEST(ClassifierKernelTest, AnXid154AskingForAResetIsTheGpuLost) {
  auto found = Classify(
      "NVRM: Xid (PCI:0000:01:00): 62, 323f0f30 0000c3d8 00000000 206dae68\n"
      "NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU "
      "Reset Required)\n"
      "NVRM: Xid (PCI:0000:02:00): 154, GPU recovery action changed from 0x0 (None) to 0x3 "
      "(Drain P2P)\n");
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kGpuError);  // the firmware watchdog
  EXPECT_EQ(found[1].incident.kind, IncidentKind::kDeviceLost);
  EXPECT_EQ(found[1].incident.signature, "xid-154-reset-required");
  EXPECT_EQ(found[1].incident.fields.xid, 154);
  EXPECT_EQ(found[2].incident.kind, IncidentKind::kGpuError);  // an action short of a reset
}

// ComfyUI's older error dialog puts str() of the OOM alone on a line between blank ones; the same
// words inside a sentence are not that line.
TEST(ClassifierTest, ComfyUiDialogAllocationLineAlone) {
  auto found = Classify(
      "Error occurred when executing CogVideoDecode:\n\nAllocation on device \n\n"
      "  File \"E:\\ComfyUI\\execution.py\", line 317, in execute\n");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.signature, "comfyui-dialog-allocation");
  EXPECT_TRUE(Classify("The error says Allocation on device and then it stops").empty());
}

// The firmware's own timeouts before the driver's 154 asking for a reset: the firmware error,
// then the GPU lost, as an Xid 62 before a 154 is; a release note naming GSP timeouts is neither.
TEST(ClassifierKernelTest, AGspHeartbeatTimeoutBeforeAResetIsTwoIncidents) {
  auto found = Classify(
      "NVRM: _kgspRpcRecvPoll: GSP RM heartbeat timed out\n"
      "NVRM: _kgspIsHeartbeatTimedOut: Heartbeat timed out, currentTimeMs 3175895033\n"
      "NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU "
      "Reset Required)\n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kGpuError);
  EXPECT_EQ(found[0].incident.signature, "gsp-fsp-timeout");
  EXPECT_EQ(found[1].incident.kind, IncidentKind::kDeviceLost);
  EXPECT_TRUE(Classify("Fixed an issue that could lead to GSP heartbeat timed out errors").empty());
}

// Python's MemoryError is the exception line itself (bare, qualified, numpy's): a line that only
// mentions it, or PyTorch's OutOfMemoryError, is not it; cuDF's GPU failure raised as a
// MemoryError is a GPU oom (its RMM wording comes first in the catalogue).
TEST(ClassifierTest, PythonsMemoryErrorIsHostMemoryWhenItIsTheExceptionLine) {
  for (const char* line :
       {"MemoryError", "  MemoryError: ",
        "numpy.core._exceptions.MemoryError: Unable to allocate 3.00 GiB for an array with "
        "shape (1024, 786432) and data type float32",
        "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 12.0 GiB for an array"}) {
    auto found = Classify(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_EQ(found[0].incident.signature, "python-memoryerror") << line;
  }
  EXPECT_TRUE(Classify("the script raised a MemoryError after an hour").empty());
  auto torch = Classify("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.");
  ASSERT_EQ(torch.size(), 1u);
  EXPECT_EQ(torch[0].incident.kind, IncidentKind::kOom);
}

// The Kubernetes device plugin (go-nvml) names the GPU by its NVML index.
TEST(ClassifierFieldsTest, GoNvmlNamesTheDeviceIndex) {
  auto found = Classify(
      "Pod Allocate failed due to device plugin GetPreferredAllocation rpc failed with err: rpc "
      "error: code = Unknown desc = Unable to retrieve list of available devices: error creating "
      "nvml.Device 5: nvml: GPU is lost, which is unexpected");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kDeviceLost);
  EXPECT_EQ(found[0].incident.fields.gpu, 5);
  // A hex word that only contains the code is not it.
  EXPECT_TRUE(Classify("checksum 1887A00051 ok").empty());
}

// Apple's MPS allocator states what it holds: 2^30 bytes per "GB", and lately "GiB".
TEST(ClassifierFieldsTest, MpsStatesWhatItHasAllocatedInEitherSpelling) {
  for (const char* unit : {"GB", "GiB"}) {
    auto found = Classify(std::string("MPS backend out of memory (MPS allocated: 39.50 ") + unit +
                          ", other allocations: 141.24 " + unit + ", max allowed: 182.78 " + unit +
                          "). Tried to allocate 6.15 " + unit + " on private pool.");
    ASSERT_EQ(found.size(), 1u) << unit;
    EXPECT_EQ(found[0].incident.fields.allocated, Bytes(42412802048ULL)) << unit;
    EXPECT_EQ(found[0].incident.fields.requested, Bytes(6603512218ULL)) << unit;
  }
}

TEST(ClassifierFieldsTest, ForgesMemoryManagerStatesTheFreeMemory) {
  auto found = Classify(
      "[Memory Management] Target: KModel, Free GPU: 3232.70 MB, Model Require: 11350.07 MB, "
      "Previously Loaded: 0.00 MB, Inference Require: 189.00 MB, Remaining: -8306.37 MB, CUDA "
      "error: out of memory");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.fields.free, Bytes{3389731635});
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

TEST(ClassifierHostMemoryTest, SystemdAndOllamaSayTheHostRanOutOfRam) {
  auto found = Classify(
      "Feb 24 11:16:31 adl systemd[1]: ollama.service: A process of this unit has been killed by "
      "the OOM killer.\n"
      "Feb 24 11:16:32 adl systemd[1]: ollama.service: Failed with result 'oom-kill'.\n");
  ASSERT_EQ(found.size(), 1u);  // one cause, said twice
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom);
  found = Classify(
      "ollama._types.ResponseError: model requires more system memory (44.7 GiB) than is "
      "available (10.7 GiB)");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom);
  EXPECT_EQ(found[0].incident.fields.requested, Bytes{47996259533});
  EXPECT_EQ(found[0].incident.fields.free, Bytes{11489037517});
}

TEST(ClassifierTest, AMessageRetypedWithoutItsFullStopIsStillAnOom) {
  auto found =
      Classify("I encounter OutOfCacheError: CUDA out of memory Tried to allocate 256.00 MiB GPU");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kOom);
  EXPECT_EQ(found[0].incident.fields.requested, Bytes{268435456});
}

}  // namespace
}  // namespace vg

namespace vg {
namespace {

TEST(ClassifierTest, DockerLlamafileCudnnAndMmapSpellings) {
  auto found = Classify(
      "Error response from daemon: driver failed programming external connectivity on endpoint "
      "webui-docker-auto-1: Bind for 0.0.0.0:7860 failed: port is already allocated");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kPortClash);
  EXPECT_EQ(found[0].incident.fields.port, 7860);
  found = Classify("couldn't bind to server socket: hostname=33.206.101.72 port=8898");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.fields.port, 8898);
  found =
      Classify("!!! Exception during processing !!! cuDNN error: CUDNN_STATUS_EXECUTION_FAILED");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kSticky);
  found = Classify("unable to mmap 23782506688 bytes from file : Cannot allocate memory (12)");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].incident.kind, IncidentKind::kHostOom);
  EXPECT_EQ(found[0].incident.fields.requested, Bytes{23782506688});
}

}  // namespace
}  // namespace vg
