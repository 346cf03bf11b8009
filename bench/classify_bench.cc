// Classifier throughput on realistic service output (issue 4: >= 200 MB/s on one core).
//
// The log is generated (deterministic): uvicorn access lines (some coloured), tqdm progress bars,
// library warnings, ComfyUI and vLLM status lines, and an OOM traceback every ~5,000 lines.
//   vg_bench_classify --write-log FILE [MIB]   writes that log (default 64 MiB) for
//   classify_bench.sh vg_bench_classify --write-patterns FILE    the built-in catalogue as `grep -E
//   -f` patterns vg_bench_classify [benchmark flags]        the Google Benchmark
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "core/classifier.h"

namespace {

constexpr const char* kOomBlock =
    "!!! Exception during processing !!! CUDA out of memory. Tried to allocate 2.10 GiB. GPU 0 has "
    "a total capacity of 23.65 GiB of which 1.20 GiB is free. Process 4242 has 9.80 GiB memory in "
    "use. Including non-PyTorch memory, this process has 12.50 GiB memory in use. Of the allocated "
    "memory 11.90 GiB is allocated by PyTorch, and 96.00 MiB is reserved by PyTorch but "
    "unallocated.\n"
    "Traceback (most recent call last):\n"
    "  File \"/opt/ComfyUI/execution.py\", line 323, in execute\n"
    "    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all)\n"
    "  File \"/opt/ComfyUI/comfy/ldm/modules/attention.py\", line 412, in attention_pytorch\n"
    "    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.10 GiB. GPU 0 has a total "
    "capacity of 23.65 GiB of which 1.20 GiB is free. Process 4242 has 9.80 GiB memory in use.\n"
    "\n"
    "Got an OOM, unloading all loaded models.\n";

std::string GenerateLog(std::size_t bytes) {
  std::string log;
  log.reserve(bytes + 4096);
  std::uint64_t x = 88172645463325252ull;  // xorshift: the same log every run
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  char buf[512];
  long n = 0;
  while (log.size() < bytes) {
    std::uint64_t r = next();
    unsigned pick = r % 100;
    ++n;
    if (n % 5000 == 0) {
      log += kOomBlock;
    } else if (pick < 35) {
      const char* color = (r >> 8) % 10 == 0 ? "\x1b[32mINFO\x1b[0m" : "INFO";
      std::snprintf(buf, sizeof buf, "%s:     127.0.0.1:%u - \"%s /%s HTTP/1.1\" %u OK\n", color,
                    static_cast<unsigned>(40000 + (r >> 16) % 20000),
                    (r >> 40) % 3 ? "GET" : "POST", (r >> 42) % 2 ? "health" : "generate",
                    (r >> 44) % 20 ? 200u : 500u);
      log += buf;
    } else if (pick < 60) {
      unsigned step = (r >> 8) % 21;
      std::string bar;
      for (unsigned k = 0; k < 20; ++k) bar += k < step ? "█" : " ";
      std::snprintf(buf, sizeof buf, "%3u%%|%s| %u/20 [00:%02u<00:%02u,  %u.%02uit/s]\n", step * 5,
                    bar.c_str(), step, step, 20 - step, static_cast<unsigned>(1 + (r >> 20) % 4),
                    static_cast<unsigned>((r >> 24) % 100));
      log += buf;
    } else if (pick < 70) {
      log +=
          "/opt/i2v/venv/lib/python3.11/site-packages/diffusers/models/transformers/"
          "transformer_2d.py:34: FutureWarning: `Transformer2DModelOutput` is deprecated and will "
          "be removed in version 1.0.0. Importing `Transformer2DModelOutput` from "
          "`diffusers.models.transformer_2d` is deprecated.\n";
    } else if (pick < 90) {
      std::snprintf(buf, sizeof buf,
                    "2026-11-27 02:%02u:%02u,%03u - INFO - Prompt executed in %u.%02u seconds\n",
                    static_cast<unsigned>((r >> 8) % 60), static_cast<unsigned>((r >> 16) % 60),
                    static_cast<unsigned>((r >> 24) % 1000), static_cast<unsigned>((r >> 34) % 30),
                    static_cast<unsigned>((r >> 40) % 100));
      log += buf;
    } else {
      std::snprintf(buf, sizeof buf,
                    "INFO 11-27 02:10:11 metrics.py:351] Avg prompt throughput: %u.0 tokens/s, Avg "
                    "generation throughput: %u.%u tokens/s, Running: %u reqs, Swapped: 0 reqs, "
                    "Pending: 0 reqs, GPU KV cache usage: %u.1%%, CPU KV cache usage: 0.0%%.\n",
                    static_cast<unsigned>((r >> 8) % 900), static_cast<unsigned>((r >> 16) % 90),
                    static_cast<unsigned>((r >> 24) % 10), static_cast<unsigned>((r >> 28) % 8),
                    static_cast<unsigned>((r >> 32) % 100));
      log += buf;
    }
  }
  return log;
}

// The catalogue as ERE alternatives: what a user would grep for.
std::string GrepPatterns() {
  std::string out;
  for (const vg::Signature& sig : vg::BuiltinCatalogue()) {
    if (sig.regex) {
      out += sig.match + "\n";
      continue;
    }
    for (char c : sig.match) {
      if (std::strchr(".[]()*+?{}|^$\\", c)) out += '\\';
      out += c;
    }
    out += "\n";
  }
  return out;
}

void BM_Classify(benchmark::State& state) {
  const std::string log = GenerateLog(16u << 20);
  std::int64_t incidents = 0;
  for (auto _ : state) {
    vg::Classifier classifier;
    std::string_view text = log;
    while (!text.empty()) {
      std::size_t nl = text.find('\n');
      incidents += static_cast<std::int64_t>(classifier.Feed(text.substr(0, nl)).size());
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(log.size()));
  state.counters["incidents_per_pass"] =
      static_cast<double>(incidents) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Classify)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--write-log") {
    std::size_t mib = argc >= 4 ? std::stoul(argv[3]) : 64;
    std::ofstream(argv[2], std::ios::binary) << GenerateLog(mib << 20);
    return 0;
  }
  if (argc >= 3 && std::string(argv[1]) == "--write-patterns") {
    std::ofstream(argv[2], std::ios::binary) << GrepPatterns();
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
