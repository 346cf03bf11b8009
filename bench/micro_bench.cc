// Micro-benchmarks of the pieces `vramguard ps` spends its time in, on this machine's real /proc.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include "core/vram_view.h"
#include "proc/procfs.h"

namespace {

// The whole table as the daemon reads it where it must (Detail::kFull: stat, status, cmdline, cwd,
// environ). Arg 0: a fresh source each time (every process read in full, as a first read);
// arg 1: one source kept across reads (a process read before costs its stat only).
void BM_ProcessTableFull(benchmark::State& state) {
  vg::ProcfsSource kept;
  for (auto _ : state) {
    vg::ProcfsSource fresh;
    auto list = (state.range(0) == 0 ? fresh : kept).List(vg::Detail::kFull);
    benchmark::DoNotOptimize(list);
    state.counters["processes"] = list ? static_cast<double>(list->size()) : 0;
  }
}
BENCHMARK(BM_ProcessTableFull)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_ProcessTableTree(benchmark::State& state) {
  vg::ProcfsSource procs;
  for (auto _ : state) {
    auto list = procs.List(vg::Detail::kTree);
    benchmark::DoNotOptimize(list);
    state.counters["processes"] = list ? static_cast<double>(list->size()) : 0;
  }
}
BENCHMARK(BM_ProcessTableTree)->Unit(benchmark::kMillisecond);

void BM_DeviceHolderScan(benchmark::State& state) {
  vg::ProcfsSource procs;
  for (auto _ : state) benchmark::DoNotOptimize(procs.ScanDeviceHolders());
}
BENCHMARK(BM_DeviceHolderScan)->Unit(benchmark::kMillisecond);

// The one pass: every row and the holders (reap), or the holders' rows alone (ps).
void BM_ListWithHolders(benchmark::State& state) {
  vg::ProcfsSource procs;
  const auto rows = state.range(0) == 0 ? vg::TableRows::kAll : vg::TableRows::kHolders;
  state.SetLabel(state.range(0) == 0 ? "kAll" : "kHolders");
  for (auto _ : state) {
    auto all = procs.ListWithHolders(rows);
    benchmark::DoNotOptimize(all);
    state.counters["rows"] = all ? static_cast<double>(all->table.size()) : 0;
  }
}
BENCHMARK(BM_ListWithHolders)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_BuildVramView(benchmark::State& state) {
  vg::ProcfsSource procs;
  vg::VramViewInput in;
  in.processes = procs.List(vg::Detail::kBasic).value();
  in.self = getpid();
  vg::GpuInfo g;
  g.total = vg::Bytes::GiB(80);
  for (std::size_t i = 0; i < in.processes.size(); i += 10) {
    g.processes.push_back({static_cast<std::uint32_t>(in.processes[i].pid), vg::Bytes::GiB(1)});
    in.holders.holders.push_back({in.processes[i].pid, {0}, {0}, true});
  }
  in.snapshot.gpus.push_back(g);
  for (auto _ : state) benchmark::DoNotOptimize(vg::BuildVramView(in));
}
BENCHMARK(BM_BuildVramView)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
