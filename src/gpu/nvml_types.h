// The few NVML types and constants vramguard uses, declared here so the build needs no CUDA
// toolkit. Layouts follow nvml.h (driver 580) and what docs/gpu-facts.md records as measured on a
// real H100. Shared by the real backend (nvml_probe.cc) and the fake driver (sim/fake_nvml.cc).
#pragma once

#include <cstdint>

extern "C" {

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;

// nvmlMemory_t (v1): used includes driver-reserved memory.
typedef struct {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

// nvmlMemory_v2_t: reserved separated from used. version must be kNvmlMemoryV2Version.
typedef struct {
  unsigned int version;
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_v2_t;

// Process list entry of _v2 and _v3 (24 bytes). v1 entries are the first 16 bytes of it.
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
  unsigned int gpu;
  unsigned int memory;
} nvmlUtilization_t;

// nvmlPciInfo_t as nvmlDeviceGetPciInfo_v3 (and _v2) fill it: busIdLegacy is "0000:3B:00.0"
// (4-digit domain), busId "00000000:3B:00.0". The unversioned call writes a 16-byte busId at
// offset 0 too (the same place as busIdLegacy), so reading busIdLegacy works for every version.
typedef struct {
  char busIdLegacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;

}  // extern "C"

namespace vg::nvml {

inline constexpr nvmlReturn_t kSuccess = 0;
inline constexpr nvmlReturn_t kErrorUninitialized = 1;
inline constexpr nvmlReturn_t kErrorInvalidArgument = 2;
inline constexpr nvmlReturn_t kErrorNotSupported = 3;
inline constexpr nvmlReturn_t kErrorNoPermission = 4;
inline constexpr nvmlReturn_t kErrorNotFound = 6;
inline constexpr nvmlReturn_t kErrorInsufficientSize = 7;
inline constexpr nvmlReturn_t kErrorDriverNotLoaded = 9;
inline constexpr nvmlReturn_t kErrorLibraryNotFound = 12;
inline constexpr nvmlReturn_t kErrorFunctionNotFound = 13;
inline constexpr nvmlReturn_t kErrorGpuIsLost = 15;
inline constexpr nvmlReturn_t kErrorLibRmVersionMismatch = 18;
inline constexpr nvmlReturn_t kErrorUnknown = 999;

// sizeof(nvmlMemory_v2_t) | (2 << 24). Passing plain 2 fails with FUNCTION_NOT_FOUND (measured).
inline constexpr unsigned int kMemoryV2Version =
    static_cast<unsigned int>(sizeof(nvmlMemory_v2_t)) | (2u << 24);
static_assert(kMemoryV2Version == 0x02000028u);
static_assert(sizeof(nvmlProcessInfo_t) == 24);
static_assert(sizeof(nvmlPciInfo_t) == 68);

// usedGpuMemory value meaning "not available".
inline constexpr unsigned long long kValueNotAvailable = 0xFFFFFFFFFFFFFFFFull;

inline constexpr unsigned kNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE
inline constexpr unsigned kDriverVersionBufferSize = 80;

}  // namespace vg::nvml
