// Suggestions for a refused job: the nearest parameter combinations the schema allows whose
// estimate fits, closest first.
//
// Pure; uses the service's Estimator read-only; thread-compatible. Only memory-driving
// parameters are changed (the others do not change the need), and only downwards. Candidate
// values: a parameter's choices, else integers of its range (every value when the range holds
// ≤ 256, else a geometric grid plus the largest value that fits, found by bisection), else for
// floats the largest fitting value by bisection. Combinations changing one parameter come
// first; pairs are tried when one is not enough or to offer alternatives.
//
// Distance (normalised parameter space): Σ over changed parameters of |ln v − ln v₀| / (ln max −
// ln min) for numbers (choices: index steps / (number of choices − 1)); ties broken by larger
// estimate (uses more of what fits), then schema order.
#pragma once

#include <string>
#include <vector>

#include "core/estimator.h"
#include "core/job_schema.h"
#include "util/units.h"

namespace vg {

struct Suggestion {
  JobParams params;  // complete, valid parameters
  Bytes estimate;    // Estimator::Predict(params).bytes ≤ capacity
  double distance = 0;
};

// At most `max_count` suggestions whose estimate is ≤ `capacity`, closest first. Empty when
// even the smallest allowed values do not fit.
std::vector<Suggestion> Suggest(const Estimator& estimator, const JobParams& wanted, Bytes capacity,
                                std::size_t max_count = 3);

// "1024p/32f needs ~21.5 GiB, 20.0 GiB plannable; fits: 1024p/24f (~17.9 GiB), …" in the
// generic form "resolution=1024 frames=32 needs ~11.9 GiB, 11.4 GiB plannable; fits:
// resolution=1024 frames=24 (~10.3 GiB), resolution=768 frames=32 (~9.6 GiB)".
std::string DescribeRefusal(const JobSchema& schema, const JobParams& wanted, Bytes need,
                            Bytes capacity, const std::vector<Suggestion>& suggestions);

}  // namespace vg
