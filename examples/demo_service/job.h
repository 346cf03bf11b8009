// A /generate job of the demo service: its parameters, their validation, and how much VRAM and
// time it costs.
//
// The memory model reproduces the I2V sizing table (docs/admission.md) for an I2V model (I2VGen-XL
// behind Gradio) with the default 8 GiB model on the simulated GPU (whose contexts cost 500 MiB of
// overhead):
//
//   activation_bytes = round_up_2MiB(kActivationScale × resolution × √frames)
//                    = round_up_2MiB(kActivationScale × √(resolution² × frames))
//   peak_bytes       = model_bytes + activation_bytes                (what the process allocates)
//   driver sees      = peak_bytes + context overhead (500 MiB)
//
//   | job            | activations | driver sees                 | table    |
//   | 512p/16f/50    | 4.20 GiB    | 13.62 GB = 12.69 GiB        | 12–14 GB |
//   | 768p/24f/80    | 7.71 GiB    | 17.40 GB = 16.20 GiB        | 16–18 GB |
//   | 1024p/32f/100  | 11.88 GiB   | 21.87 GB = 20.37 GiB        | 20–22 GB |
//
// Each figure lies in the table's range whether "GB" is read as 10⁹ bytes or as GiB. The square
// root is there because the table grows sub-linearly (8× the pixel-frames cost ~2.8× the
// activations: real pipelines slice attention and decode the VAE in tiles). Steps cost time
// (steps × step time), not memory. Rounding up to 2 MiB mirrors PyTorch's caching allocator,
// which rounds large blocks to 2 MiB.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "util/units.h"

namespace vg::demo {

// Bytes of activations per unit of resolution × √frames (2150 KiB).
inline constexpr std::uint64_t kActivationScale = 2150 * 1024;
// Allocation granularity of PyTorch's caching allocator for large blocks.
inline constexpr std::uint64_t kAllocationGranularity = 2 * 1024 * 1024;

struct JobParams {
  unsigned resolution = 512;  // pixels per side: 256, 512, 768 or 1024
  unsigned frames = 16;       // 1..64
  unsigned steps = 50;        // denoising steps, 1..200
  bool operator==(const JobParams&) const = default;
};

// Why a request body was refused: the parameter at fault (empty for the body as a whole) and a
// message a user can act on.
struct JobError {
  std::string parameter;
  std::string message;
};

// Parses a /generate body: a JSON object with optional integer fields resolution, frames and steps
// (missing ones take JobParams' defaults; an empty body means all defaults). Unknown fields, wrong
// types and values out of range are refused, naming the parameter.
std::expected<JobParams, JobError> ParseJob(std::string_view body);

// Activation memory of one job (the formula above).
Bytes ActivationBytes(const JobParams& job);

// What the process holds at the job's peak: the model plus the job's activations.
inline Bytes PeakBytes(Bytes model, const JobParams& job) { return model + ActivationBytes(job); }

// How long the job computes: steps × step_time.
inline std::chrono::milliseconds JobDuration(const JobParams& job,
                                             std::chrono::milliseconds step_time) {
  return step_time * job.steps;
}

}  // namespace vg::demo
