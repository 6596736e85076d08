// The NaN/Inf guard of a training run: a batch whose loss or gradients are not finite stops the
// run with an error naming the step (NonFinitePolicy::kFail), or is skipped and counted (kSkip).
// Weights that are not finite are never written to a checkpoint (ops::SaveCheckpoint refuses them).
#pragma once

#include "pipelines/step.h"

namespace millrace::pipelines {

// Called by the backward stage before it runs, after whichever loss stage set item.loss.
// Finite: false. NaN or Inf with kSkip: marks the item skipped (the backward and step stages
// leave the weights and the optimizer state alone; the step still counts), adds one to
// state.nonfinite_skipped and returns true. With kFail: throws Error(kData) of stage "loss"
// naming the step, the epoch and the batch. Compute thread only.
bool SkipNonFiniteLoss(StepItem& item, TrainState& state);

// Called by the backward stage after it ran: whether every gradient of the optimizer's
// parameters is finite, in one read-only pass over them (an integer reduction over the
// exponent fields that vectorizes: ~40 us for the mlp's 400k gradients, about 1% of its step;
// the weights and the results of finite runs are untouched).
// Finite: false. Otherwise as SkipNonFiniteLoss, with an error of stage "backward" naming the
// step and the first parameter with a NaN or Inf. On a GPU under kFail (the loss left on the
// device) it checks nothing and returns false: a host wait per step would stall the GPU, and a
// non-finite gradient makes the next step's loss non-finite, which ResolveLoss reports.
// Compute thread only.
bool SkipNonFiniteGradients(StepItem& item, TrainState& state);

// A loss left on the device (StepItem::pending_loss) read into item.loss (one copy, which waits for
// the step's loss kernel): a label out of range throws Error(kData) naming its batch index, a
// non-finite loss Error(kData) naming the step (stage "loss"). No-op on the CPU.
void ResolveLoss(StepItem& item);

}  // namespace millrace::pipelines
