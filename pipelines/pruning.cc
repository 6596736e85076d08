#include "pipelines/pruning.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>

#include "core/error.h"
#include "ops/optim/lr_schedule.h"
#include "ops/prune/magnitude.h"
#include "ops/prune/mask.h"
#include "ops/prune/schedule.h"
#include "pipelines/training.h"

namespace millrace::pipelines {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

ops::GradualPruning Gradual(const PruneConfig& c) {
  return ops::GradualPruning({.initial_sparsity = 0.0,
                              .final_sparsity = c.sparsity,
                              .begin_step = c.start_step,
                              .end_step = c.end_step,
                              .frequency = c.every,
                              .global = c.global});
}

double MaskedFraction(const std::vector<ops::Parameter*>& weights) {
  int64_t pruned = 0, numel = 0;
  for (const ops::Parameter* p : weights) {
    pruned += ops::PrunedCount(*p);
    numel += p->value.numel();
  }
  return numel == 0 ? 0.0 : static_cast<double>(pruned) / static_cast<double>(numel);
}

// Ranks on copies of the weights and masks (taken on the compute thread), so that training can
// go on while the ranking runs; the result is the new masks, in the order of the weights.
std::vector<Tensor> RankCopies(std::vector<ops::Parameter> copies, double sparsity, bool global) {
  std::vector<ops::Parameter*> pointers;
  for (ops::Parameter& p : copies) pointers.push_back(&p);
  PruneTo(pointers, sparsity, global);
  std::vector<Tensor> masks;
  for (ops::Parameter& p : copies) masks.push_back(std::move(p.mask));
  return masks;
}

class PruneStage final : public ComputeStage {
 public:
  PruneStage(PruneSchedule schedule, std::shared_ptr<PruneStats> stats)
      : ComputeStage("prune-mask"), schedule_(std::move(schedule)), stats_(std::move(stats)) {
    if (!stats_) stats_ = std::make_shared<PruneStats>();
  }
  // At lag > 0 the ranking runs on the graph's "prune-rank" cpu stage.
  std::string side_stage() const override { return schedule_.config().lag > 0 ? "prune-rank" : ""; }

  void Run(StepItem& item, TrainState& state) override {
    if (weights_.empty()) weights_ = PrunableWeights(*state.model);
    const int64_t t = state.steps_done;
    const int64_t lag = schedule_.config().lag;
    if (lag == 0) {
      if (schedule_.IsUpdateStep(t)) {
        const Clock::time_point t0 = Clock::now();
        PruneTo(weights_, schedule_.SparsityAt(t), schedule_.config().global);
        stats_->rank_seconds += SecondsSince(t0);
        Applied(t);
      }
    } else {
      if (pending_ && pending_->apply_at == t) Apply(t, state);
      if (schedule_.IsUpdateStep(t)) item.side = Submit(t, t + lag);
    }
    // Masked gradients (the optimizer masks them again; stages inserted before the step see
    // them masked).
    for (ops::Parameter* p : state.optimizer->parameters()) {
      if (p->mask.defined() && p->grad.defined()) ops::MaskMultiply(p->grad, p->mask);
    }
  }

 private:
  struct Ranked {
    std::vector<Tensor> masks;
    double seconds = 0.0;
  };
  struct Pending {
    int64_t apply_at = 0;
    std::future<Ranked> masks;
  };

  // Copies the weights and masks now and returns the ranking of the copies, for the
  // prune-rank stage to run while training goes on; Apply() takes its masks `lag` steps later.
  SideWork Submit(int64_t t, int64_t apply_at) {
    MILLRACE_CHECK(!pending_, ErrorKind::kInternal,
                   "prune-mask: a ranking is still pending at step " << t);
    std::vector<ops::Parameter> copies;
    for (const ops::Parameter* p : weights_) {
      ops::Parameter c;
      c.name = p->name;
      c.value = p->value.Clone();
      if (p->mask.defined()) c.mask = p->mask.Clone();
      copies.push_back(std::move(c));
    }
    const double sparsity = schedule_.SparsityAt(t);
    const bool global = schedule_.config().global;
    auto promise = std::make_shared<std::promise<Ranked>>();
    pending_ = Pending{apply_at, promise->get_future()};
    auto shared = std::make_shared<std::vector<ops::Parameter>>(std::move(copies));
    return [promise, shared, sparsity, global] {
      try {
        const Clock::time_point t0 = Clock::now();
        Ranked r{RankCopies(std::move(*shared), sparsity, global), 0.0};
        r.seconds = SecondsSince(t0);
        promise->set_value(std::move(r));
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    };
  }

  void Apply(int64_t t, const TrainState& state) {
    const Clock::time_point t0 = Clock::now();
    // Usually ready: ranked `lag` steps ago. Waits while the graph runs, not past a cancel.
    while (pending_->masks.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready) {
      MILLRACE_CHECK(!(state.cancelled && state.cancelled()), ErrorKind::kCancelled,
                     "prune-mask: cancelled while waiting for the ranking of step " << t);
    }
    Ranked ranked = pending_->masks.get();
    stats_->wait_seconds += SecondsSince(t0);
    stats_->rank_seconds += ranked.seconds;
    std::vector<Tensor>& masks = ranked.masks;
    pending_.reset();
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (!masks[i].defined()) continue;
      weights_[i]->mask = std::move(masks[i]);
      ops::ApplyMask(*weights_[i]);
    }
    Applied(t);
  }

  void Applied(int64_t t) {
    ++stats_->updates;
    stats_->sparsity_at.emplace_back(t, MaskedFraction(weights_));
  }

  PruneSchedule schedule_;
  std::shared_ptr<PruneStats> stats_;
  std::vector<ops::Parameter*> weights_;
  std::optional<Pending> pending_;
};

}  // namespace

PruneSchedule::PruneSchedule(const PruneConfig& config, int64_t total_steps) : config_(config) {
  PruneConfig& c = config_;
  MILLRACE_CHECK_ARG(c.method == "oneshot" || c.method == "gradual",
                     "prune method '" << c.method << "' is not one of: oneshot, gradual");
  if (c.start_step == -1) c.start_step = c.method == "gradual" ? 2 * total_steps / 5 : 0;
  MILLRACE_CHECK_ARG(c.sparsity > 0.0f && c.sparsity < 1.0f,
                     "prune sparsity must be in (0, 1), got " << c.sparsity);
  MILLRACE_CHECK_ARG(c.start_step >= 0,
                     "prune start step must be >= 0 (or -1: the default), got " << c.start_step);
  MILLRACE_CHECK_ARG(c.lag >= 0, "prune lag must be >= 0, got " << c.lag);
  MILLRACE_CHECK_ARG(c.restart_lr_factor > 0,
                     "prune restart_lr_factor must be > 0, got " << c.restart_lr_factor);
  if (c.method == "gradual") {
    if (c.end_step == 0) c.end_step = std::max<int64_t>(c.start_step + 1, 3 * total_steps / 5);
    MILLRACE_CHECK_ARG(c.every > 0, "prune every must be > 0, got " << c.every);
    MILLRACE_CHECK_ARG(c.end_step > c.start_step, "prune end step " << c.end_step
                                                                    << " must be after the start "
                                                                    << c.start_step);
    MILLRACE_CHECK_ARG(c.lag <= c.every, "prune lag " << c.lag << " must not exceed every "
                                                      << c.every
                                                      << " (one ranking in flight at a time)");
    // The ramp's end is an update step even off the every-grid (so the final sparsity is
    // reached); the ranking before it must have landed by then.
    const int64_t last_gap = (c.end_step - c.start_step) % c.every;
    MILLRACE_CHECK_ARG(last_gap == 0 || c.lag <= last_gap,
                       "prune lag " << c.lag << " must not exceed the " << last_gap
                                    << " steps between the last two mask updates (" << c.end_step
                                    << " - " << c.start_step << " is not a multiple of every "
                                    << c.every << ")");
  }
}

bool PruneSchedule::IsUpdateStep(int64_t t) const {
  if (config_.method == "oneshot") return t == config_.start_step;
  return Gradual(config_).IsPruningStep(t) || t == config_.end_step;
}

double PruneSchedule::SparsityAt(int64_t t) const {
  if (config_.method == "oneshot") return t >= config_.start_step ? config_.sparsity : 0.0;
  return Gradual(config_).SparsityAt(t);
}

int64_t PruneSchedule::LastUpdateStep() const {
  if (config_.method == "oneshot") return config_.start_step;
  return config_.end_step;
}

int64_t FineTuneStart(const PruneSchedule& schedule) {
  return schedule.LastUpdateStep() + schedule.config().lag + 1;
}

std::vector<ops::Parameter*> PrunableWeights(ops::Sequential& model) {
  std::vector<ops::Parameter*> weights;
  for (ops::Parameter* p : model.Parameters()) {
    if (p->value.ndim() >= 2) weights.push_back(p);
  }
  return weights;
}

void PruneTo(const std::vector<ops::Parameter*>& weights, double sparsity, bool global) {
  // The count to add so that round(sparsity * n) entries end up pruned (torch's rounding).
  auto prune_group = [sparsity](const std::vector<ops::Parameter*>& group) {
    int64_t numel = 0, pruned = 0;
    for (ops::Parameter* p : group) {
      numel += p->value.numel();
      pruned += ops::PrunedCount(*p);
    }
    const int64_t wanted = ops::PruneAmount::Fraction(sparsity).Resolve(numel, "");
    ops::GlobalL1Unstructured(group,
                              ops::PruneAmount::Count(std::max<int64_t>(0, wanted - pruned)));
  };
  if (global) {
    prune_group(weights);
  } else {
    for (ops::Parameter* p : weights) prune_group({p});
  }
}

void PruneStep(const PruneSchedule& schedule, int64_t t, const std::vector<ops::Parameter*>& w) {
  if (schedule.IsUpdateStep(t)) PruneTo(w, schedule.SparsityAt(t), schedule.config().global);
  ops::ApplyMasks(w);
}

ComputeStagePtr MakePruneStage(PruneSchedule schedule, std::shared_ptr<PruneStats> stats) {
  return std::make_unique<PruneStage>(std::move(schedule), std::move(stats));
}

std::shared_ptr<PruneStats> AttachPruning(TrainingPipeline& pipeline, const PruneConfig& config) {
  if (config.method == "none") return nullptr;
  const TrainConfig& c = pipeline.config();
  int64_t total = pipeline.steps_per_epoch() * c.epochs;
  if (c.max_steps > 0) total = std::min(total, c.max_steps);
  auto stats = std::make_shared<PruneStats>();
  PruneSchedule schedule(config, total);
  const int64_t restart_at = FineTuneStart(schedule);
  // The lr schedule spans every epoch (max_steps only stops early).
  const int64_t lr_total = pipeline.steps_per_epoch() * c.epochs;
  if (config.method == "gradual" && config.restart_lr && restart_at < lr_total) {
    TrainState& state = pipeline.state();
    // The run's schedule up to the restart, then a cosine from restart_lr_factor x the peak
    // down to 0 at the end.
    const ops::LrSchedulePtr fine_tune = ops::ProductLr(
        {ops::ConstantLr(config.restart_lr_factor), ops::CosineLr(lr_total - restart_at)});
    state.schedule = ops::SequentialLr(
        {state.schedule ? state.schedule : ops::ConstantLr(), fine_tune}, {restart_at});
  }
  pipeline.Replace("prune-mask", MakePruneStage(std::move(schedule), stats));
  return stats;
}

}  // namespace millrace::pipelines
