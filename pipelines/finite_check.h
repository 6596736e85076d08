// The NaN/Inf guard of a training run: a batch whose loss is not finite stops the run with an
// error naming the step (NonFinitePolicy::kFail), or is skipped and counted (kSkip). Weights
// that are not finite are never written to a checkpoint (ops::SaveCheckpoint refuses them).
#pragma once

#include "pipelines/step.h"

namespace millrace::pipelines {

// Called by the backward stage before it runs, after whichever loss stage set item.loss.
// Finite: false. NaN or Inf with kSkip: marks the item skipped (the backward and step stages
// leave the weights and the optimizer state alone; the step still counts), adds one to
// state.nonfinite_skipped and returns true. With kFail: throws Error(kData) of stage "loss"
// naming the step, the epoch and the batch. Compute thread only.
bool SkipNonFiniteLoss(StepItem& item, TrainState& state);

}  // namespace millrace::pipelines
