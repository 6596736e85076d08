#include "ops/prune/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/prune/magnitude.h"

namespace millrace::ops {

GradualPruning::GradualPruning(const GradualPruningOptions& options) : options_(options) {
  const auto& o = options;
  MILLRACE_CHECK_ARG(o.initial_sparsity >= 0 && o.initial_sparsity <= 1 && o.final_sparsity >= 0 &&
                         o.final_sparsity <= 1,
                     "GradualPruning: sparsities must be in [0, 1], got "
                         << o.initial_sparsity << " and " << o.final_sparsity);
  MILLRACE_CHECK_ARG(o.begin_step >= 0 && o.end_step > o.begin_step,
                     "GradualPruning: need 0 <= begin_step < end_step, got "
                         << o.begin_step << " and " << o.end_step);
  MILLRACE_CHECK_ARG(o.frequency > 0, "GradualPruning: frequency must be > 0, got " << o.frequency);
}

double GradualPruning::SparsityAt(int64_t step) const {
  const auto& o = options_;
  if (step <= o.begin_step) return o.initial_sparsity;
  if (step >= o.end_step) return o.final_sparsity;
  const double progress =
      static_cast<double>(step - o.begin_step) / static_cast<double>(o.end_step - o.begin_step);
  const double remaining = 1 - progress;
  return o.final_sparsity +
         (o.initial_sparsity - o.final_sparsity) * remaining * remaining * remaining;
}

bool GradualPruning::IsPruningStep(int64_t step) const {
  const auto& o = options_;
  return step >= o.begin_step && step <= o.end_step && (step - o.begin_step) % o.frequency == 0;
}

bool GradualPruning::Step(int64_t step, const std::vector<Parameter*>& parameters) const {
  if (!IsPruningStep(step)) return false;
  const double target = SparsityAt(step);
  // The count to add, so that round(target * n) entries end up pruned (torch's rounding).
  auto prune_to = [&](const std::vector<Parameter*>& group) {
    int64_t numel = 0, pruned = 0;
    for (Parameter* p : group) {
      numel += p->value.numel();
      pruned += PrunedCount(*p);
    }
    const int64_t wanted = PruneAmount::Fraction(target).Resolve(numel, "");
    GlobalL1Unstructured(group, PruneAmount::Count(std::max<int64_t>(0, wanted - pruned)));
  };
  if (options_.global) {
    prune_to(parameters);
  } else {
    for (Parameter* p : parameters) prune_to({p});
  }
  return true;
}

}  // namespace millrace::ops
