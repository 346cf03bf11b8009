// Field extraction and JSON from the real messages (docs/gpu-facts.md, verbatim).
#include "core/incident.h"

#include <gtest/gtest.h>

namespace vg {
namespace {

constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kMiB = 1ull << 20;

// round(x * 2^shift / 100) for a figure printed with two decimals, e.g. G(1051) = 10.51 GiB.
std::uint64_t G(std::uint64_t hundredths) { return (hundredths * kGiB + 50) / 100; }
std::uint64_t M(std::uint64_t hundredths) { return (hundredths * kMiB + 50) / 100; }

constexpr const char* kTorch211 =
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 15.00 GiB. GPU 0 has a total "
    "capacity of 79.18 GiB of which 8.06 GiB is free. Process 597 has 60.60 GiB memory in use. "
    "Including non-PyTorch memory, this process has 10.51 GiB memory in use. Of the allocated "
    "memory 10.00 GiB is allocated by PyTorch, and 0 bytes is reserved by PyTorch but "
    "unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation "
    "for Memory Management  "
    "(https://docs.pytorch.org/docs/stable/notes/"
    "cuda.html#optimizing-memory-usage-with-pytorch-cuda-alloc-conf)";
constexpr const char* kTorch20 =
    "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 10.76 GiB total "
    "capacity; 9.50 GiB already allocated; 13.44 MiB free; 9.66 GiB reserved in total by PyTorch) "
    "If reserved memory is >> allocated memory try setting max_split_size_mb to avoid "
    "fragmentation.";
constexpr const char* kTorch21 =
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 496.00 MiB. GPU 0 has a "
    "total capacty of 14.75 GiB of which 235.06 MiB is free. Process 20398 has 14.52 GiB memory "
    "in use. Of the allocated memory 14.06 GiB is allocated by PyTorch, and 330.42 MiB is "
    "reserved by PyTorch but unallocated.";

TEST(IncidentFieldsTest, PyTorch24FormEveryNumberToTheByte) {
  IncidentFields f = ParseIncidentFields(kTorch211, IncidentKind::kOom);
  EXPECT_EQ(f.requested, Bytes(15 * kGiB));
  EXPECT_EQ(f.gpu, 0);
  EXPECT_EQ(f.capacity, Bytes(G(7918)));
  EXPECT_EQ(f.free, Bytes(G(806)));
  ASSERT_EQ(f.processes.size(), 1u);
  EXPECT_EQ(f.processes[0].pid, 597);
  EXPECT_EQ(f.processes[0].used, Bytes(G(6060)));
  EXPECT_EQ(f.process, Bytes(G(1051)));
  EXPECT_EQ(f.allocated, Bytes(10 * kGiB));
  EXPECT_EQ(f.reserved_unallocated, Bytes(0));
  EXPECT_FALSE(f.reserved);
  EXPECT_FALSE(f.port);
}

TEST(IncidentFieldsTest, PyTorch20Form) {
  IncidentFields f = ParseIncidentFields(kTorch20, IncidentKind::kOom);
  EXPECT_EQ(f.requested, Bytes(20 * kMiB));
  EXPECT_EQ(f.gpu, 0);
  EXPECT_EQ(f.capacity, Bytes(G(1076)));
  EXPECT_EQ(f.allocated, Bytes(G(950)));
  EXPECT_EQ(f.free, Bytes(M(1344)));
  EXPECT_EQ(f.reserved, Bytes(G(966)));
  EXPECT_FALSE(f.process);
  EXPECT_TRUE(f.processes.empty());
}

TEST(IncidentFieldsTest, PyTorch21FormWithTheCapactyTypo) {
  IncidentFields f = ParseIncidentFields(kTorch21, IncidentKind::kOom);
  EXPECT_EQ(f.requested, Bytes(496 * kMiB));
  EXPECT_EQ(f.capacity, Bytes(G(1475)));
  EXPECT_EQ(f.free, Bytes(M(23506)));
  ASSERT_EQ(f.processes.size(), 1u);
  EXPECT_EQ(f.processes[0].pid, 20398);
  EXPECT_EQ(f.processes[0].used, Bytes(G(1452)));
  EXPECT_EQ(f.allocated, Bytes(G(1406)));
  EXPECT_EQ(f.reserved_unallocated, Bytes(M(33042)));
}

TEST(IncidentFieldsTest, SeveralProcessesAreAllListed) {
  IncidentFields f = ParseIncidentFields(
      "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB. GPU 1 has a total "
      "capacity of 23.65 GiB of which 512.00 KiB is free. Process 11 has 1.50 GiB memory in use. "
      "Process 2222 has 20.00 GiB memory in use. Including non-PyTorch memory, this process has "
      "2.00 GiB memory in use.",
      IncidentKind::kOom);
  EXPECT_EQ(f.gpu, 1);
  EXPECT_EQ(f.free, Bytes(512 * 1024));
  ASSERT_EQ(f.processes.size(), 2u);
  EXPECT_EQ(f.processes[0].pid, 11);
  EXPECT_EQ(f.processes[0].used, Bytes(3 * kGiB / 2));
  EXPECT_EQ(f.processes[1].pid, 2222);
  EXPECT_EQ(f.process, Bytes(2 * kGiB));
}

TEST(IncidentFieldsTest, OtherEngines) {
  IncidentFields async = ParseIncidentFields(
      "torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of memory)",
      IncidentKind::kOom);
  EXPECT_EQ(async.gpu, 0);
  EXPECT_FALSE(async.requested);

  IncidentFields llama = ParseIncidentFields(
      "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4096.00 MiB on device 1: cudaMalloc "
      "failed: out of memory",
      IncidentKind::kOom);
  EXPECT_EQ(llama.requested, Bytes(4 * kGiB));
  EXPECT_EQ(llama.gpu, 1);

  IncidentFields ggml = ParseIncidentFields(
      "alloc_tensor_range: failed to allocate CUDA0 buffer of size 4294967296", IncidentKind::kOom);
  EXPECT_EQ(ggml.requested, Bytes(4294967296));
  EXPECT_EQ(ggml.gpu, 0);

  IncidentFields vllm = ParseIncidentFields(
      "ValueError: Free memory on device (6.9/8.0 GiB) on startup is less than desired GPU memory "
      "utilization (0.9, 7.2 GiB).",
      IncidentKind::kOom);
  EXPECT_EQ(vllm.free, Bytes((69 * kGiB + 5) / 10));
  EXPECT_EQ(vllm.capacity, Bytes(8 * kGiB));
  EXPECT_FALSE(vllm.gpu);
  IncidentFields newer = ParseIncidentFields(
      "(EngineCore pid=17635) ValueError: Free memory on device cuda:1 (15.32/22.04 GiB) on "
      "startup is less than desired GPU memory utilization (0.9, 19.84 GiB).",
      IncidentKind::kOom);
  EXPECT_EQ(newer.free, Bytes(G(1532)));
  EXPECT_EQ(newer.capacity, Bytes(G(2204)));
  EXPECT_EQ(newer.gpu, 1);
}

TEST(IncidentFieldsTest, VllmV1TensorFlowXla) {
  IncidentFields v1 = ParseIncidentFields(
      "ValueError: To serve at least one request with the models's max seq len (131072), (16.00 "
      "GiB KV cache is needed, which is larger than the available KV cache memory (9.50 GiB). Try "
      "increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the "
      "engine.",
      IncidentKind::kOom);
  EXPECT_EQ(v1.requested, Bytes(16 * kGiB));
  EXPECT_EQ(v1.free, Bytes(G(950)));
  IncidentFields v1b = ParseIncidentFields(
      "ValueError: To serve at least one request with the model's max seq len (1048576), 7.89 GiB "
      "KV cache is needed, which is larger than the available KV cache memory (4.0 GiB).",
      IncidentKind::kOom);
  EXPECT_EQ(v1b.requested, Bytes(G(789)));
  EXPECT_EQ(v1b.free, Bytes(4 * kGiB));
  IncidentFields tf = ParseIncidentFields(
      "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor "
      "with shape[8,4096,4096] and type float on /job:localhost/replica:0/task:0/device:GPU:1 by "
      "allocator GPU_1_bfc",
      IncidentKind::kOom);
  EXPECT_EQ(tf.gpu, 1);
  IncidentFields xla = ParseIncidentFields(
      "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to "
      "allocate 17179869184 bytes.",
      IncidentKind::kOom);
  EXPECT_EQ(xla.requested, Bytes(17179869184));
}

TEST(IncidentFieldsTest, XidAndPciBus) {
  IncidentFields xid = ParseIncidentFields(
      "NVRM: Xid (PCI:0000:01:00): 79, pid=4242, name=python3, GPU has fallen off the bus.",
      IncidentKind::kDeviceLost);
  EXPECT_EQ(xid.xid, 79);
  EXPECT_EQ(xid.pci_bus, "0000:01:00");
  IncidentFields bus = ParseIncidentFields("NVRM: GPU 0000:01:00.0: GPU has fallen off the bus.",
                                           IncidentKind::kDeviceLost);
  EXPECT_EQ(bus.pci_bus, "0000:01:00.0");
  EXPECT_FALSE(bus.gpu) << "the PCI address is not a GPU index";
}

TEST(IncidentFieldsTest, Ports) {
  auto port = [](const char* line, IncidentKind kind = IncidentKind::kPortClash) {
    return ParseIncidentFields(line, kind).port;
  };
  EXPECT_EQ(port("OSError: Cannot find empty port in range: 7860-7860."), 7860);
  EXPECT_EQ(port("* Running on local URL:  http://127.0.0.1:7860", IncidentKind::kReady), 7860);
  EXPECT_EQ(port("To see the GUI go to: http://127.0.0.1:8188", IncidentKind::kReady), 8188);
  EXPECT_EQ(port("ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', "
                 "8000): address already in use"),
            8000);
  EXPECT_EQ(port("Error: listen EADDRINUSE: address already in use :::3000"), 3000);
  EXPECT_EQ(port("listen tcp :8080: bind: address already in use"), 8080);
  EXPECT_EQ(port("Error: listen EADDRINUSE: address already in use 127.0.0.1:3000"), 3000);
  EXPECT_EQ(port("02:31:07 Error: listen EADDRINUSE: address already in use 0.0.0.0:8188"), 8188);
  EXPECT_EQ(port("couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080"), 8080);
  EXPECT_FALSE(port("OSError: [Errno 98] Address already in use"));
  // A port is only read for port kinds: an assert's source line is no port.
  EXPECT_FALSE(ParseIncidentFields("RuntimeError: NVML_SUCCESS == r INTERNAL ASSERT FAILED at "
                                   "\"../c10/cuda/CUDACachingAllocator.cpp\":830",
                                   IncidentKind::kOomProbable)
                   .port);
}

TEST(IncidentFieldsTest, MalformedNumbersAreAbsentNotZero) {
  IncidentFields f = ParseIncidentFields(
      "CUDA out of memory. Tried to allocate lots. GPU x has a total capacity of many",
      IncidentKind::kOom);
  EXPECT_FALSE(f.requested);
  EXPECT_FALSE(f.gpu);
  EXPECT_FALSE(f.capacity);
  // Absurdly long numbers are refused, not overflowed.
  IncidentFields big =
      ParseIncidentFields("Tried to allocate 99999999999999999999999.00 GiB", IncidentKind::kOom);
  EXPECT_FALSE(big.requested);
}

TEST(IncidentKindTest, NamesRoundTrip) {
  for (auto kind : {IncidentKind::kOom, IncidentKind::kOomProbable, IncidentKind::kSticky,
                    IncidentKind::kDeviceLost, IncidentKind::kPortClash, IncidentKind::kReady}) {
    EXPECT_EQ(ParseIncidentKind(IncidentKindName(kind)), kind);
  }
  EXPECT_EQ(std::string(IncidentKindName(IncidentKind::kOomProbable)), "oom-probable");
  EXPECT_EQ(std::string(IncidentKindName(IncidentKind::kDeviceLost)), "device-lost");
  EXPECT_FALSE(ParseIncidentKind("OOM"));
}

TEST(IncidentJsonTest, SharedVocabulary) {
  Incident incident;
  incident.kind = IncidentKind::kOom;
  incident.signature = "torch-oom-2.4";
  incident.engine = "pytorch";
  incident.line = kTorch211;
  incident.context = {"Traceback (most recent call last):", "bad \xff byte"};
  incident.fields = ParseIncidentFields(kTorch211, IncidentKind::kOom);
  nlohmann::json j = IncidentJson(incident);
  EXPECT_EQ(j["kind"], "oom");
  EXPECT_EQ(j["signature"], "torch-oom-2.4");
  EXPECT_EQ(j["requested_bytes"], 15 * kGiB);
  EXPECT_EQ(j["gpu"], 0);
  EXPECT_EQ(j["capacity_bytes"], G(7918));
  EXPECT_EQ(j["free_bytes"], G(806));
  EXPECT_EQ(j["process_bytes"], G(1051));
  EXPECT_EQ(j["allocated_bytes"], 10 * kGiB);
  EXPECT_EQ(j["reserved_unallocated_bytes"], 0);
  EXPECT_TRUE(j["reserved_bytes"].is_null());
  EXPECT_TRUE(j["port"].is_null());
  EXPECT_EQ(j["processes"][0]["pid"], 597);
  EXPECT_EQ(j["processes"][0]["used_bytes"], G(6060));
  EXPECT_EQ(j["context"].size(), 2u);
  EXPECT_NO_THROW(j.dump()) << "invalid UTF-8 in a log line must not make dump() throw";
}

TEST(CleanLogLineTest, StripsEscapesCrAndTrailingSpace) {
  EXPECT_EQ(CleanLogLine("\x1b[31mRuntimeError\x1b[0m: boom \r"), "RuntimeError: boom");
  EXPECT_EQ(CleanLogLine("\x1b]0;title\x07text\t"), "text");
  EXPECT_EQ(CleanLogLine("a\x1b"), "a");
}

TEST(SignatureTest, Validation) {
  EXPECT_TRUE(ValidateSignature({"x", IncidentKind::kOom, "", "my engine OOM", false, "", ""}));
  EXPECT_FALSE(ValidateSignature({"x", IncidentKind::kOom, "", "", false, "", ""}));
  EXPECT_FALSE(ValidateSignature({"x", IncidentKind::kOom, "", "([a-", true, "", ""}));
}

}  // namespace
}  // namespace vg
