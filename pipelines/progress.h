// What a training run tells its caller while it runs: a snapshot after each step, and a
// summary at each epoch's end. The `millrace` command draws them as its progress line.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace millrace::pipelines {

// After optimizer step `step`. Built on the compute thread; hooks must return quickly.
struct StepProgress {
  int epoch = 0;  // 1-based
  int epochs = 0;
  int64_t step = 0;           // optimizer steps done, over the whole run
  int64_t step_in_epoch = 0;  // 1-based
  int64_t steps_per_epoch = 0;
  int64_t samples = 0;         // training samples consumed, whole run
  double samples_per_s = 0.0;  // over the last interval (about a second)
  double loss = 0.0;           // running mean of the epoch's batch losses
  double lr = 0.0;
  double elapsed_s = 0.0;
  // Each stage's busy share of the wall time since the start, in graph order.
  std::vector<std::pair<std::string, double>> busy;
};

// One evaluation of the epoch's weights.
struct EvalFigures {
  bool done = false;  // false: not evaluated on this split
  double accuracy = 0.0;
  double loss = 0.0;  // mean cross-entropy
  int64_t samples = 0;
};

// At an epoch's end, once its evaluation (if any) is done.
struct EpochSummary {
  int epoch = 0;
  int epochs = 0;
  int64_t steps = 0;        // steps done, whole run
  double train_loss = 0.0;  // mean batch loss of the epoch
  double train_samples_per_s = 0.0;
  double seconds = 0.0;    // the epoch's wall time
  EvalFigures test;        // the test set (TrainConfig::eval_each_epoch)
  EvalFigures validation;  // the held-out training records (TrainConfig::validation)
  double sparsity = 0.0;   // fraction of pruned weights (0 without pruning)
};

}  // namespace millrace::pipelines
