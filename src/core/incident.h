// Incidents: what a service's output says went wrong (or right) with its GPU, as values.
//
// An Incident is one cause recognised in a service's output: an out-of-memory error, a sticky CUDA
// fault, a GPU that fell off the bus, a port clash, or a readiness line. It carries the signature
// that recognised it (an entry of the catalogue), the line, the lines around it (a Python
// traceback's lines when it ended one) and every number the message gave (IncidentFields).
//
// The catalogue is data: BuiltinCatalogue() is a table of Signatures (docs/oom.md lists them);
// users add their own from the config (`patterns`, `[[pattern]]`) as more Signatures.
//
// Pure values; no I/O. Units: all sizes are Bytes (PyTorch's "GiB" is 2^30 bytes); fields the
// message did not state are empty optionals, never zero.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/units.h"

namespace vg {

enum class IncidentKind {
  kOom,          // the service ran out of GPU memory
  kOomProbable,  // an error that out-of-memory usually causes (NVML assert, cuDNN not initialised)
  kSticky,       // a CUDA error that poisons the context: the process must restart
  kDeviceLost,   // the GPU itself is gone (Xid 79): restarting the service will not help
  kPortClash,    // the service could not listen: its port is taken
  kReady,        // the service says it is listening (Gradio, ComfyUI, uvicorn, llama.cpp)
  kGpuError,     // the driver reported a serious GPU error (Xid 48, 74, 94, 95, 119 …): not lost
  kHostOom,      // the service ran out of host memory (RAM), not GPU memory: never a VRAM action
};

// "oom", "oom-probable", "sticky", "device-lost", "port-clash", "ready", "gpu-error", "host-oom".
const char* IncidentKindName(IncidentKind kind);
std::optional<IncidentKind> ParseIncidentKind(std::string_view name);

// "Process 597 has 60.60 GiB memory in use": another process on the same GPU.
struct ProcessUse {
  long pid = 0;
  Bytes used;
};

// What the message says; an absent field was not said.
struct IncidentFields {
  std::optional<Bytes> requested;             // "Tried to allocate 2.10 GiB"
  std::optional<Bytes> capacity;              // "total capacity of 79.18 GiB"
  std::optional<Bytes> free;                  // "of which 8.06 GiB is free"
  std::optional<Bytes> process;               // "this process has 10.51 GiB memory in use"
  std::optional<Bytes> allocated;             // "10.00 GiB is allocated by PyTorch"
  std::optional<Bytes> reserved_unallocated;  // "0 bytes is reserved by PyTorch but unallocated"
  std::optional<Bytes> reserved;              // "9.66 GiB reserved in total by PyTorch" (<= 2.0)
  std::optional<int> gpu;                     // "GPU 0", "on device 0", "CUDA0"
  std::vector<ProcessUse> processes;          // each "Process N has X memory in use"
  std::optional<int> port;                    // port-clash and ready lines
  std::optional<int> xid;                     // "NVRM: Xid (PCI:0000:01:00): 79"
  std::optional<std::string> pci_bus;         // "0000:01:00" from the Xid line
  // `requested` was stated as a whole number of bytes ("buffer of size 4294967296"), not a
  // rounded size ("4096.00 MiB"). Not part of the JSON.
  bool requested_exact = false;

  // How many fields are present (to tell the richer of two descriptions of one cause).
  int Count() const;
  // Fills the fields that are empty here from `more`, and replaces a rounded `requested` by an
  // exact byte count within 1 % of it (llama.cpp's "allocating 144818.69 MiB", then "buffer of
  // size 151851674624"); returns whether anything changed.
  bool FillFrom(const IncidentFields& more);
};

struct Incident {
  // The classifier numbers the incidents of one stream 1, 2, … An update (see Classifier) carries
  // the number of the incident it completes.
  std::uint64_t seq = 0;
  // True for an update: the same incident (seq) with fields that lines after the decisive one
  // stated (a message wrapped over several lines, cudaMallocAsync's table, llama.cpp's
  // "current device"). Only fields that were empty before are filled; nothing else changes.
  bool update = false;
  IncidentKind kind = IncidentKind::kOom;
  std::string signature;  // catalogue id, e.g. "torch-oom-2.4"; user patterns "user:<n>"
  std::string engine;     // "pytorch", "llama.cpp", "vllm", "comfyui", "gradio", "user"...
  std::string line;       // the decisive line, ANSI escapes removed (bounded)
  std::vector<std::string> context;  // the traceback it ended, or the lines before it (bounded)
  IncidentFields fields;
  std::string what;  // a short phrase: "CUDA out of memory", "illegal memory access"
};

// The shared event vocabulary (PREAMBLE): kind, signature, engine, what, line, context, and the
// fields: requested_bytes, capacity_bytes, free_bytes, process_bytes, allocated_bytes,
// reserved_unallocated_bytes, reserved_bytes, gpu, processes [{pid, used_bytes}], port, xid,
// pci_bus. Absent fields are null (every key is always there).
nlohmann::json IncidentJson(const Incident& incident);

// One entry of the catalogue. `match` is a literal substring (case-sensitive) or, with regex, a
// regular expression in RE2 syntax (util/pattern.h) searched anywhere in the line. `anchor`, when
// set, is a literal that must occur in the line before the regex is tried (the built-in regexes all
// have one; for a user regex the classifier derives one when it can, so ordinary lines never reach
// a regex).
struct Signature {
  std::string id;
  IncidentKind kind = IncidentKind::kOom;
  std::string engine;
  std::string match;
  bool regex = false;
  std::string what;
  std::string anchor;
};

// The built-in catalogue, most specific first (the first signature that matches a line wins).
const std::vector<Signature>& BuiltinCatalogue();

// Checks a user signature (from the config): non-empty match, a regex that compiles. The error
// says what is wrong; the config reader adds file:line:col.
Result<void> ValidateSignature(const Signature& signature);

// Reads every number the line states: sizes, GPU index, pids and Xid for the memory and device
// kinds; the port for port-clash and ready. Pure; linear in the line.
IncidentFields ParseIncidentFields(std::string_view line, IncidentKind kind);

// The line without ANSI escape sequences (colours, cursor moves), trailing CR and whitespace.
std::string CleanLogLine(std::string_view line);

}  // namespace vg
