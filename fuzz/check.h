// The fuzz targets' one assertion: a property that does not hold aborts, which libFuzzer
// reports as a crash with the input that broke it (build-fuzz/artifacts/).
#pragma once

#include <cstdlib>

namespace vg_fuzz {

inline void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace vg_fuzz
