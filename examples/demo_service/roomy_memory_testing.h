// For the demo's protocol tests (gradio_queue_test.cc, comfy_prompt_test.cc): a GpuMemory that
// always has room — the protocol is under test, not sizing.
#pragma once

#include <algorithm>

#include "gpu_memory.h"
#include "http.h"

namespace vg::demo {

class RoomyMemory : public GpuMemory {
 public:
  Result<void> Grow(Bytes target) override {
    held_ = std::max(held_, target);
    return {};
  }
  Result<void> ReleaseTo(Bytes target) override {
    held_ = std::min(held_, target);
    return {};
  }
  Bytes Held() const override { return held_; }
  std::optional<OomReport> LastOom() const override { return std::nullopt; }
  std::string Describe() const override { return "roomy"; }

 private:
  Bytes held_{0};
};

inline HttpRequest TestRequest(std::string method, std::string target, std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

}  // namespace vg::demo
