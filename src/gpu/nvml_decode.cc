#include "gpu/nvml_decode.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace vg::nvml {
namespace {

template <class T>
T Load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Offset one past the last byte the driver wrote (the last byte that is not the fill byte).
std::size_t WrittenExtent(std::span<const unsigned char> buffer) {
  std::size_t end = buffer.size();
  while (end > 0 && buffer[end - 1] == kFillByte) --end;
  return end;
}

bool PlausibleInstanceId(std::uint32_t id) { return id == 0xFFFFFFFFu || id < 64; }

// Decodes with one stride; empty optional when any entry is implausible.
std::optional<std::vector<GpuProcess>> TryStride(std::span<const unsigned char> buffer,
                                                 unsigned count, unsigned stride,
                                                 Bytes device_total) {
  if (static_cast<std::size_t>(count) * stride > buffer.size()) return std::nullopt;
  std::vector<GpuProcess> out;
  out.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    const unsigned char* e = buffer.data() + static_cast<std::size_t>(i) * stride;
    auto pid = Load<std::uint32_t>(e);
    auto used = Load<std::uint64_t>(e + 8);
    if (pid == 0 || pid > kMaxPid) return std::nullopt;
    if (used != kValueNotAvailable && device_total.count() > 0 && used > device_total.count()) {
      return std::nullopt;
    }
    if (stride >= 24) {
      if (!PlausibleInstanceId(Load<std::uint32_t>(e + 16)) ||
          !PlausibleInstanceId(Load<std::uint32_t>(e + 20))) {
        return std::nullopt;
      }
    }
    GpuProcess p;
    p.pid = pid;
    if (used != kValueNotAvailable) p.used = Bytes(used);
    out.push_back(p);
  }
  return out;
}

}  // namespace

Result<DecodedList> DecodeProcessList(std::span<const unsigned char> buffer, unsigned count,
                                      unsigned expected_stride, Bytes device_total) {
  if (count == 0) return DecodedList{};
  const std::size_t extent = WrittenExtent(buffer);
  std::vector<unsigned> strides = {expected_stride};
  for (unsigned s : {16u, 24u, 32u}) {
    if (s != expected_stride) strides.push_back(s);
  }
  for (unsigned stride : strides) {
    // The driver's bytes must end inside the last entry of this stride, not beyond it, and
    // must reach into that last entry (a shorter stride would leave it untouched).
    std::size_t end = static_cast<std::size_t>(count) * stride;
    if (extent > end || extent <= end - stride) continue;
    if (auto decoded = TryStride(buffer, count, stride, device_total)) {
      return DecodedList{std::move(*decoded), stride};
    }
  }
  return Fail(ErrorCode::kDriverError,
              "the driver's process list has an unknown layout (" + std::to_string(count) +
                  " entries in " + std::to_string(extent) + " bytes)",
              "report the driver version; vramguard fell back to older NVML calls");
}

FetchResult FetchProcessList(const ListCall& call, unsigned expected_stride, Bytes device_total) {
  FetchResult result;
  unsigned needed = 0;
  nvmlReturn_t r = call(&needed, nullptr);
  if (r == kSuccess) return result;  // count 0 and success: no processes
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (r != kErrorInsufficientSize) {
      result.status = r;
      return result;
    }
    unsigned capacity = needed + 8;
    std::vector<unsigned char> buffer(static_cast<std::size_t>(capacity) * kMaxStride, kFillByte);
    unsigned count = capacity;
    r = call(&count, buffer.data());
    if (r == kSuccess) {
      // Bytes past `capacity` entries of the expected stride were never offered to the driver
      // by the API contract, but a buggy driver may have written them; keep the whole buffer.
      auto decoded = DecodeProcessList(buffer, count, expected_stride, device_total);
      if (!decoded) {
        result.status = kErrorUnknown;
        result.decode_error = decoded.error().message;
        return result;
      }
      result.list = std::move(*decoded);
      return result;
    }
    needed = count;  // the list grew between the two calls: the driver said how many now
  }
  result.status = r;
  return result;
}

std::vector<GpuProcess> MergeProcessLists(std::vector<GpuProcess> a,
                                          const std::vector<GpuProcess>& b) {
  for (const GpuProcess& p : b) {
    auto it = std::find_if(a.begin(), a.end(), [&](const GpuProcess& q) { return q.pid == p.pid; });
    if (it == a.end()) {
      a.push_back(p);
    } else if (p.used && (!it->used || *p.used > *it->used)) {
      it->used = p.used;
    }
  }
  std::sort(a.begin(), a.end(),
            [](const GpuProcess& x, const GpuProcess& y) { return x.pid < y.pid; });
  return a;
}

const char* ReturnName(nvmlReturn_t r) {
  switch (r) {
    case 0:
      return "SUCCESS";
    case 1:
      return "UNINITIALIZED";
    case 2:
      return "INVALID_ARGUMENT";
    case 3:
      return "NOT_SUPPORTED";
    case 4:
      return "NO_PERMISSION";
    case 5:
      return "ALREADY_INITIALIZED";
    case 6:
      return "NOT_FOUND";
    case 7:
      return "INSUFFICIENT_SIZE";
    case 8:
      return "INSUFFICIENT_POWER";
    case 9:
      return "DRIVER_NOT_LOADED";
    case 10:
      return "TIMEOUT";
    case 11:
      return "IRQ_ISSUE";
    case 12:
      return "LIBRARY_NOT_FOUND";
    case 13:
      return "FUNCTION_NOT_FOUND";
    case 14:
      return "CORRUPTED_INFOROM";
    case 15:
      return "GPU_IS_LOST";
    case 16:
      return "RESET_REQUIRED";
    case 17:
      return "OPERATING_SYSTEM";
    case 18:
      return "LIB_RM_VERSION_MISMATCH";
    case 19:
      return "IN_USE";
    case 20:
      return "MEMORY";
    case 21:
      return "NO_DATA";
    case 25:
      return "ARGUMENT_VERSION_MISMATCH";
    default:
      return "UNKNOWN";
  }
}

}  // namespace vg::nvml
