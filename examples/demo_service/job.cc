#include "job.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

namespace vg::demo {
namespace {

using Json = nlohmann::json;

// Reads field `name` of `body` into `out` when present; validates it with `valid`.
template <class Valid>
std::optional<JobError> ReadField(const Json& body, const char* name, const std::string& expected,
                                  Valid valid, unsigned* out) {
  auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  if (!it->is_number_integer()) return JobError{name, std::string(name) + " must be " + expected};
  std::int64_t value = it->get<std::int64_t>();
  if (value < 0 || value > 1'000'000 || !valid(static_cast<unsigned>(value))) {
    return JobError{name, std::string(name) + " must be " + expected + ", not " + it->dump()};
  }
  *out = static_cast<unsigned>(value);
  return std::nullopt;
}

}  // namespace

std::expected<JobParams, JobError> ParseJob(std::string_view body) {
  JobParams job;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return job;
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::unexpected(JobError{"", "the body is not valid JSON"});
  if (!json.is_object()) {
    return std::unexpected(
        JobError{"", "the body must be a JSON object like {\"resolution\":768,\"frames\":24}"});
  }
  for (const auto& [key, value] : json.items()) {
    if (key != "resolution" && key != "frames" && key != "steps") {
      return std::unexpected(
          JobError{key, "unknown parameter '" + key + "': use resolution, frames and steps"});
    }
  }
  auto is_resolution = [](unsigned v) { return v == 256 || v == 512 || v == 768 || v == 1024; };
  auto in = [](unsigned lo, unsigned hi) { return [=](unsigned v) { return v >= lo && v <= hi; }; };
  if (auto e = ReadField(json, "resolution", "one of 256, 512, 768, 1024", is_resolution,
                         &job.resolution)) {
    return std::unexpected(*e);
  }
  if (auto e = ReadField(json, "frames", "an integer from 1 to 64", in(1, 64), &job.frames)) {
    return std::unexpected(*e);
  }
  if (auto e = ReadField(json, "steps", "an integer from 1 to 200", in(1, 200), &job.steps)) {
    return std::unexpected(*e);
  }
  return job;
}

Bytes ActivationBytes(const JobParams& job) {
  double raw = static_cast<double>(kActivationScale) * job.resolution *
               std::sqrt(static_cast<double>(job.frames));
  auto bytes = static_cast<std::uint64_t>(std::ceil(raw));
  bytes = (bytes + kAllocationGranularity - 1) / kAllocationGranularity * kAllocationGranularity;
  return Bytes(bytes);
}

}  // namespace vg::demo
