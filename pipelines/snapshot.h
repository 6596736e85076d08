// A copy of a model's weights and buffers (BatchNorm's running statistics), taken on the
// compute thread between two steps and loaded into another model of the same architecture,
// so that evaluation can run on a cpu stage while training goes on.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ops/sequential.h"

namespace millrace::pipelines {

struct WeightSnapshot {
  int epoch = 0;                                        // taken at the end of this epoch
  int64_t step = 0;                                     // optimizer steps done when taken
  std::vector<std::pair<std::string, Tensor>> tensors;  // parameter and buffer values, cloned
};

// Clones every parameter value and buffer of `model` onto the host (from any device).
WeightSnapshot TakeSnapshot(ops::Sequential& model);
// Copies a snapshot into `model`. Throws Error(kInvalidArgument) naming the tensor when a name
// is missing or a shape differs.
void LoadSnapshot(const WeightSnapshot& snapshot, ops::Sequential& model);

}  // namespace millrace::pipelines
