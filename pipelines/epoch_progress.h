// Epoch accounting of a training run: the running loss, the progress line's figures every
// ~0.1 s, and each epoch's summary when its last batch has been stepped. Called by the training
// graph's `progress` stage (on the compute device, right after the optimizer step), one batch
// at a time, in sequence order.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "core/graph/stats.h"
#include "pipelines/progress.h"
#include "pipelines/step.h"

namespace millrace::pipelines {

class EpochProgress {
 public:
  using Clock = std::chrono::steady_clock;

  // steps_per_epoch and batch_size of the training split; total_steps: the step the run ends
  // at (resume included).
  EpochProgress(int epochs, int64_t steps_per_epoch, int64_t batch_size, int64_t total_steps);

  // Counts one stepped batch (steps_done: optimizer steps after it).
  void Add(const StepItem& item, int64_t steps_done);
  // Whether the progress line is due (every ~0.1 s, and at each epoch's end).
  bool ProgressDue() const;
  // The progress line's figures; `stats` gives each stage's busy share. Starts a new interval.
  StepProgress Progress(const GraphStats& stats);
  // The epoch's summary, once its last batch (or the run's) has been added; nullopt otherwise.
  // Starts the next epoch's figures.
  std::optional<EpochSummary> EndOfEpoch();

  int64_t steps_this_run() const { return steps_this_run_; }
  double elapsed_s() const { return Seconds(start_, Clock::now()); }

 private:
  static double Seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }

  int epochs_;
  int64_t steps_per_epoch_, batch_size_, total_steps_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point epoch_start_ = start_, last_progress_ = start_;
  int64_t steps_this_run_ = 0, samples_at_last_ = 0;
  double epoch_loss_sum_ = 0.0;
  int64_t epoch_steps_ = 0;
  int64_t epoch_losses_ = 0;  // batches whose loss is in the sum (not skipped)
  // The last batch added.
  int epoch_ = 0;
  int64_t index_in_epoch_ = 0, steps_done_ = 0;
  double lr_ = 0.0;
  bool epoch_end_ = false;
};

}  // namespace millrace::pipelines
