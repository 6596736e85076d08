// Learning-rate schedules: a factor of the base learning rate per step, composable.
//
//   // 500 steps of linear warm-up from 0.1x, then a cosine decay over the remaining 9500:
//   LrSchedulePtr schedule = SequentialLr({LinearWarmupLr(500, 0.1), CosineLr(9500)}, {500});
//   for (int64_t step = 0; step < 10000; ++step) {
//     sgd.set_lr(base_lr * schedule->Factor(step));
//     ... forward, backward, sgd.Step() ...
//   }
//
// `step` counts optimizer steps from 0. Schedules are immutable once built: thread-safe, and
// shared between compositions (shared_ptr).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace millrace::ops {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // The factor multiplying the base learning rate at `step` (>= 0).
  virtual double Factor(int64_t step) const = 0;
  // "Cosine(T=9500, min=0)", for logs.
  virtual std::string Describe() const = 0;
};
using LrSchedulePtr = std::shared_ptr<const LrSchedule>;

// `factor` (1 by default) at every step; in a ProductLr, it scales another schedule.
LrSchedulePtr ConstantLr(double factor = 1);
// torch StepLR: gamma^(step / step_size), integer division.
LrSchedulePtr StepLr(int64_t step_size, double gamma);
// torch CosineAnnealingLR (closed form), as a factor: min + (1 - min) * (1 + cos(pi * t / T)) / 2
// for t < T, then min.
LrSchedulePtr CosineLr(int64_t total_steps, double min_factor = 0);
// torch LinearLR with end factor 1: from start_factor at step 0 up to 1 at warmup_steps, then 1.
LrSchedulePtr LinearWarmupLr(int64_t warmup_steps, double start_factor = 0);
// The product of several schedules' factors at the same step (torch ChainedScheduler).
LrSchedulePtr ProductLr(std::vector<LrSchedulePtr> schedules);
// torch SequentialLR: schedules[i] runs from milestones[i-1] (0 for the first), its own step
// counted from there. milestones: increasing, one fewer than schedules.
LrSchedulePtr SequentialLr(std::vector<LrSchedulePtr> schedules, std::vector<int64_t> milestones);

}  // namespace millrace::ops
