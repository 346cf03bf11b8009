#!/usr/bin/env python3
"""What each NVML call costs on this machine's driver (pynvml, the library nvidia-smi uses), so a
GPU table's time can be split into the driver's part and the tool's. Prints one line per call:
the median and max over RUNS calls, in milliseconds. Run on a GPU machine (tests/gpu/device.sh)."""
import statistics
import sys
import time

import pynvml as n

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50


def timed(name, fn):
    samples = []
    for _ in range(RUNS):
        t = time.perf_counter()
        try:
            fn()
        except Exception as e:  # a call the driver refuses still costs its round trip
            name = f"{name} ({e})"
        samples.append((time.perf_counter() - t) * 1000)
    print(f"{name}: median {statistics.median(samples):.3f} ms, max {max(samples):.3f} ms")


t0 = time.perf_counter()
n.nvmlInit()
print(f"nvmlInit (first, this process): {(time.perf_counter() - t0) * 1000:.1f} ms")
h = n.nvmlDeviceGetHandleByIndex(0)
timed("nvmlDeviceGetCount", n.nvmlDeviceGetCount)
timed("nvmlDeviceGetHandleByIndex", lambda: n.nvmlDeviceGetHandleByIndex(0))
timed("nvmlDeviceGetName", lambda: n.nvmlDeviceGetName(h))
timed("nvmlDeviceGetUUID", lambda: n.nvmlDeviceGetUUID(h))
timed("nvmlDeviceGetMinorNumber", lambda: n.nvmlDeviceGetMinorNumber(h))
timed("nvmlDeviceGetPciInfo", lambda: n.nvmlDeviceGetPciInfo(h))
timed("nvmlDeviceGetMemoryInfo (v1)", lambda: n.nvmlDeviceGetMemoryInfo(h))
timed("nvmlDeviceGetMemoryInfo (v2)", lambda: n.nvmlDeviceGetMemoryInfo(h, version=n.nvmlMemory_v2))
timed("nvmlDeviceGetUtilizationRates", lambda: n.nvmlDeviceGetUtilizationRates(h))
timed("nvmlDeviceGetComputeRunningProcesses", lambda: n.nvmlDeviceGetComputeRunningProcesses(h))
timed("nvmlDeviceGetGraphicsRunningProcesses", lambda: n.nvmlDeviceGetGraphicsRunningProcesses(h))
timed("nvmlSystemGetDriverVersion", n.nvmlSystemGetDriverVersion)
t0 = time.perf_counter()
n.nvmlShutdown()
print(f"nvmlShutdown: {(time.perf_counter() - t0) * 1000:.1f} ms")
