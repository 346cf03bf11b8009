// Pure decoding of what NVML writes, kept apart from the loader so it is unit-tested on bytes.
//
// Process lists: the driver writes `count` entries whose size depends on the API version and,
// on some early R535 drivers, on a bug (32-byte _v3 entries; nvitop#75). The caller fills the
// buffer with kFillByte before the call; the decoder finds how far the driver wrote and picks
// the entry stride (16, 24 or 32 bytes) that covers exactly that and yields plausible entries.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "gpu/gpu_probe.h"
#include "gpu/nvml_types.h"

namespace vg::nvml {

inline constexpr unsigned char kFillByte = 0xA5;
inline constexpr unsigned kMaxStride = 32;
inline constexpr std::uint32_t kMaxPid = 4194304;  // PID_MAX_LIMIT on 64-bit Linux

struct DecodedList {
  std::vector<GpuProcess> processes;
  unsigned stride = 0;
};

// Decodes `count` entries from `buffer` (pre-filled with kFillByte, then written by the driver).
// expected_stride is what the API version should write (24 for _v2/_v3, 16 for v1); another
// stride is used only when the written extent or the values prove the driver used it.
// device_total bounds plausible usedGpuMemory values (0: no bound).
Result<DecodedList> DecodeProcessList(std::span<const unsigned char> buffer, unsigned count,
                                      unsigned expected_stride, Bytes device_total);

// One NVML list call: (*count in: capacity in entries, out: entries written or needed; buffer).
using ListCall = std::function<nvmlReturn_t(unsigned* count, void* buffer)>;

struct FetchResult {
  nvmlReturn_t status = kSuccess;  // kSuccess, or the driver's error (caller may fall back)
  DecodedList list;
  std::string decode_error;  // set when the driver succeeded but the bytes were nonsense
};

// The INSUFFICIENT_SIZE protocol: ask with capacity 0 for the needed count, allocate that plus
// headroom (room for kMaxStride-byte entries), call again; if the list grew past the headroom in
// between, repeat (a few times). SUCCESS with count 0 means no processes.
FetchResult FetchProcessList(const ListCall& call, unsigned expected_stride, Bytes device_total);

// Merges process lists (compute + graphics) by pid, summing nothing: the same pid in two lists
// is one context; the larger known usage wins.
std::vector<GpuProcess> MergeProcessLists(std::vector<GpuProcess> a,
                                          const std::vector<GpuProcess>& b);

// Human name of an NVML return code ("GPU_IS_LOST").
const char* ReturnName(nvmlReturn_t r);

}  // namespace vg::nvml
