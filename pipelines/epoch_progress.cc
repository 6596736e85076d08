#include "pipelines/epoch_progress.h"

#include <algorithm>

namespace millrace::pipelines {

EpochProgress::EpochProgress(int epochs, int64_t steps_per_epoch, int64_t batch_size,
                             int64_t total_steps)
    : epochs_(epochs),
      steps_per_epoch_(steps_per_epoch),
      batch_size_(batch_size),
      total_steps_(total_steps) {}

void EpochProgress::Add(const StepItem& item, int64_t steps_done) {
  ++steps_this_run_;
  if (!item.skipped) {  // a batch skipped for a non-finite loss has no loss to average
    epoch_loss_sum_ += item.loss;
    ++epoch_losses_;
  }
  ++epoch_steps_;
  epoch_ = item.batch.epoch;
  index_in_epoch_ = item.batch.index_in_epoch;
  steps_done_ = steps_done;
  lr_ = item.lr;
  epoch_end_ = item.batch.last_in_epoch || steps_done == total_steps_;
}

bool EpochProgress::ProgressDue() const {
  return epoch_end_ || Seconds(last_progress_, Clock::now()) >= 0.1;
}

StepProgress EpochProgress::Progress(const GraphStats& stats) {
  const Clock::time_point now = Clock::now();
  StepProgress p;
  p.epoch = epoch_;
  p.epochs = epochs_;
  p.step = steps_done_;
  p.step_in_epoch = index_in_epoch_ + 1;
  p.steps_per_epoch = steps_per_epoch_;
  p.samples = steps_this_run_ * batch_size_;
  p.samples_per_s = (p.samples - samples_at_last_) / std::max(1e-9, Seconds(last_progress_, now));
  p.loss = epoch_loss_sum_ / std::max<int64_t>(1, epoch_losses_);
  p.lr = lr_;
  p.elapsed_s = Seconds(start_, now);
  for (const StageStats& s : stats.stages) {
    if (s.busy_fraction >= 0.005) p.busy.emplace_back(s.name, s.busy_fraction);
  }
  samples_at_last_ = p.samples;
  last_progress_ = now;
  return p;
}

std::optional<EpochSummary> EpochProgress::EndOfEpoch() {
  if (!epoch_end_) return std::nullopt;
  const Clock::time_point now = Clock::now();
  EpochSummary e;
  e.epoch = epoch_;
  e.epochs = epochs_;
  e.steps = steps_done_;
  e.train_loss = epoch_loss_sum_ / std::max<int64_t>(1, epoch_losses_);
  e.seconds = Seconds(epoch_start_, now);
  e.train_samples_per_s = epoch_steps_ * batch_size_ / std::max(1e-9, e.seconds);
  epoch_loss_sum_ = 0.0;
  epoch_losses_ = 0;
  epoch_steps_ = 0;
  epoch_start_ = now;
  epoch_end_ = false;
  return e;
}

}  // namespace millrace::pipelines
