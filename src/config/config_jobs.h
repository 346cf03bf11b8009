// A service's job interface as configured (docs/config.md, "Jobs"): where jobs are dispatched,
// the parameter schema, the sizing table that is the estimator's prior, and idle unload.
//
// Plain data, copyable, thread-compatible; produced by ParseService (config_service.cc calls
// ParseJobKeys). The daemon maps it onto core's JobSchema (daemon/job_schema_map.cc).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/units.h"

namespace vg {

// One parameter a job of the service takes.
struct JobParamConfig {
  enum class Type { kInt, kFloat, kBool, kString } type = Type::kInt;
  std::string name;
  std::optional<double> min;  // numbers: inclusive range (both or neither with choices)
  std::optional<double> max;
  std::vector<double> choices;            // numbers: the only allowed values (instead of min/max)
  std::vector<std::string> choices_text;  // strings: the allowed values (empty: any)
  std::optional<double> default_number;   // int/float default
  std::optional<bool> default_bool;
  std::optional<std::string> default_text;
  // How the parameter drives memory: the job's activations grow as value^memory_exponent
  // (0: not at all, the default; 2 for a resolution, 1 for a frame count).
  double memory_exponent = 0;
};

// One row of the sizing table: parameter values (memory-driving ones at least) and the VRAM the
// whole service needs for a job with them (what the driver shows for its processes at the peak).
struct SizingRowConfig {
  std::map<std::string, double> params;
  Bytes vram;
};

struct JobsConfig {
  bool enabled = false;               // a `jobs` table is present
  std::string method = "POST";        // how jobs are dispatched
  std::string url;                    // absolute http:// URL
  int concurrency = 1;                // jobs of this service running at once, at most
  bool idempotent = false;            // a job interrupted by a daemon crash may run again
  Millis timeout{30 * 60 * 1000};     // a dispatched job without an answer after this fails
  Bytes max_payload = Bytes::MiB(1);  // the largest payload a submission may carry
  std::vector<JobParamConfig> params;
  std::vector<SizingRowConfig> sizing;
};

const char* JobParamTypeName(JobParamConfig::Type t);

}  // namespace vg
