// Test data shared by the admission unit tests: the demo service's job schema and its memory
// model (examples/README.md, "The memory model and the sizing table"). Header only; tests only.
#pragma once

#include <cmath>

#include "core/job_schema.h"

namespace vg::testing {

// activation_bytes = round_up_to_2MiB(2150 KiB × resolution × √frames)
inline Bytes DemoActivation(int resolution, int frames) {
  double bytes = 2150.0 * 1024 * resolution * std::sqrt(static_cast<double>(frames));
  std::uint64_t block = 2ull << 20;
  auto b = static_cast<std::uint64_t>(std::ceil(bytes));
  return Bytes((b + block - 1) / block * block);
}

inline JobParams DemoParams(int resolution, int frames, int steps = 50) {
  return {{"resolution", resolution}, {"frames", frames}, {"steps", steps}};
}

// resolution: one of 256/512/768/1024 (drives memory as pixels: exponent 2); frames 1–64
// (exponent 1); steps 1–200 (time only). Sizing rows: the demo's activations for the I2V sizing
// table's (docs/admission.md) table (job bytes over the loaded service).
inline JobSchema DemoSchema(unsigned concurrency = 1) {
  JobSchema s;
  ParamSpec res{.name = "resolution", .type = ParamSpec::Type::kInt};
  res.choices = {256, 512, 768, 1024};
  res.default_value = 512;
  res.memory_exponent = 2;
  ParamSpec frames{.name = "frames", .type = ParamSpec::Type::kInt, .min = 1, .max = 64};
  frames.default_value = 16;
  frames.memory_exponent = 1;
  ParamSpec steps{.name = "steps", .type = ParamSpec::Type::kInt, .min = 1, .max = 200};
  steps.default_value = 50;
  s.params = {res, frames, steps};
  s.sizing = {{{{"resolution", 512}, {"frames", 16}}, DemoActivation(512, 16)},
              {{{"resolution", 768}, {"frames", 24}}, DemoActivation(768, 24)},
              {{{"resolution", 1024}, {"frames", 32}}, DemoActivation(1024, 32)}};
  s.concurrency = concurrency;
  return s;
}

}  // namespace vg::testing
