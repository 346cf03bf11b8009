// A service's job interface as plain values: its parameters, the sizing table that seeds the
// estimator, and how many jobs it runs at once; plus validation of a submitted job's parameters.
//
// Pure; values only, no ownership beyond the containers; thread-compatible.
//
// Sizing rows are JOB bytes: what one job at those parameters adds on top of the loaded, idle
// service (the driver's reading for the service's processes at the job's peak minus its reading
// right after start-up, i.e. minus the model). The demo service's table in these terms is
// 512p/16f 4.2 GiB, 768p/24f 7.7 GiB, 1024p/32f 11.9 GiB (examples/README.md, "activations").
// The estimator, the ledger and the refusal rule all work in these job bytes; the service's
// resident baseline (model + context) is counted separately (see core/ledger.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/units.h"

namespace vg {

struct ParamSpec {
  enum class Type { kInt, kFloat, kString, kBool };
  std::string name;
  Type type = Type::kInt;
  std::optional<double> min, max;               // inclusive range, numbers only
  std::vector<nlohmann::json> choices;          // when non-empty, the only allowed values
  std::optional<nlohmann::json> default_value;  // absent: the parameter is required
  // How the parameter drives memory: the estimator's feature is Π value^memory_exponent over
  // the numeric parameters (0: does not drive memory; resolution 2 for pixels, frames 1).
  double memory_exponent = 0;
};

// Validated parameters, every parameter of the schema present (defaults filled in).
using JobParams = std::map<std::string, nlohmann::json>;

struct SizingRow {
  JobParams params;  // may omit parameters: their defaults apply
  Bytes bytes;       // job bytes over the loaded service (see the file comment)
};

struct JobSchema {
  std::vector<ParamSpec> params;
  std::vector<SizingRow> sizing;
  unsigned concurrency = 1;  // jobs of this service that may run at once (bytes permitting)

  const ParamSpec* Find(const std::string& name) const;
};

// Checks a submitted `params` object against the schema and fills in defaults. On failure the
// Error (kInvalidArgument, worth an HTTP 400) names the parameter and what is allowed:
// "frames: 65 is out of range 1–64", "resolution: 800 is not one of 256, 512, 768, 1024",
// "quality: unknown parameter (known: resolution, frames, steps)", "steps: expected an integer,
// got \"many\"", "seed: required". `bad_parameter`, when given, receives the parameter's name
// (empty when `params` is not an object). Quoted names and values are cut to kMaxEchoBytes
// (util/json_limits.h): an error never echoes much of the client's input.
Result<JobParams> ValidateParams(const JobSchema& schema, const nlohmann::json& params,
                                 std::string* bad_parameter = nullptr);

// The estimator's memory feature x = Π value^memory_exponent over numeric memory-driving
// parameters; parameters absent from `params` take their default; 1 when nothing drives memory.
// Values ≤ 0 count as the smallest positive double (the feature stays > 0).
double MemoryFeature(const JobSchema& schema, const JobParams& params);

// "1024p/32f"-style short label is service specific; this gives "resolution=1024 frames=32"
// for the memory-driving parameters (all parameters when none drives memory), in schema order.
std::string DescribeParams(const JobSchema& schema, const JobParams& params);

}  // namespace vg
