// The plain sequential training loop: no graph, no threads besides oneDNN's. It is the oracle
// of the exactness test (the graph's weights must equal its weights bit for bit) and the
// compute-only baseline of `millrace bench`.
//
//   for epoch, for batch in train.EpochBatches(epoch):
//     b = train.MakeBatch(epoch, batch);  PlainStep(b, state);   // pipelines/step.h
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pipelines/data.h"
#include "pipelines/metrics.h"
#include "pipelines/step.h"

namespace millrace::pipelines {

// Trains state.model over `train`'s batches of epochs 1..epochs, stopping after max_steps
// steps when max_steps > 0. Returns each step's loss.
std::vector<double> ReferenceTrain(const DataSource& train, TrainState& state, int epochs,
                                   int64_t max_steps = 0);

// Steps over batches already in memory, cycling through them until `steps` steps are done
// (compute only: no reading or preprocessing). Returns the last step's loss.
double TrainOnBatches(std::span<const Batch> batches, TrainState& state, int64_t steps);

// Evaluates `model` in eval mode over every batch of `test`, in a plain loop.
ClassificationMetrics EvaluatePlain(ops::Sequential& model, const DataSource& test);

}  // namespace millrace::pipelines
