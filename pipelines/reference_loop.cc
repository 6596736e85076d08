#include "pipelines/reference_loop.h"

namespace millrace::pipelines {

std::vector<double> ReferenceTrain(const DataSource& train, TrainState& state, int epochs,
                                   int64_t max_steps) {
  std::vector<double> losses;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    for (const std::vector<int64_t>& indices : train.EpochBatches(epoch)) {
      if (max_steps > 0 && static_cast<int64_t>(losses.size()) >= max_steps) return losses;
      Batch batch = train.MakeBatch(epoch, indices);
      losses.push_back(PlainStep(batch, state));
    }
  }
  return losses;
}

double TrainOnBatches(std::span<const Batch> batches, TrainState& state, int64_t steps) {
  MILLRACE_CHECK_ARG(!batches.empty(), "TrainOnBatches: no batches");
  double loss = 0.0;
  for (int64_t i = 0; i < steps; ++i) {
    loss = PlainStep(batches[static_cast<size_t>(i) % batches.size()], state);
  }
  return loss;
}

ClassificationMetrics EvaluatePlain(ops::Sequential& model, const DataSource& test) {
  ClassificationMetrics metrics(static_cast<int>(test.num_classes()));
  for (const std::vector<int64_t>& indices : test.EpochBatches(1)) {
    Batch batch = test.MakeBatch(1, indices);
    Tensor logits = model.Forward(batch.images, ops::Mode::kEval);
    metrics.Add(logits, batch.labels);
  }
  return metrics;
}

}  // namespace millrace::pipelines
