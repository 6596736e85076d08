// Gradual magnitude pruning with the cubic schedule of Zhu & Gupta ("To prune, or not to
// prune", 2017):
//   s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3   for t0 <= t <= t0 + n * dt
// where t0 = begin_step, t0 + n * dt = end_step and dt = frequency; masks are recomputed every
// dt steps, and sparsity ramps fast at first and slowly near the end.
//
//   GradualPruning pruning({.final_sparsity = 0.9, .begin_step = 100, .end_step = 1100,
//                           .frequency = 100});
//   for (step = 0; ...; ++step) {
//     ... forward, backward ...
//     pruning.Step(step, weights);  // on a pruning step: prunes each weight to s_t
//     sgd.Step();                   // keeps the masked weights at 0
//   }
// Immutable configuration; Step() changes the parameters' masks (one thread at a time).
#pragma once

#include <cstdint>
#include <vector>

#include "ops/layer.h"

namespace millrace::ops {

struct GradualPruningOptions {
  double initial_sparsity = 0;  // s_i, reached at begin_step
  double final_sparsity = 0.9;  // s_f, reached at end_step and kept after
  int64_t begin_step = 0;       // t0
  int64_t end_step = 1000;      // t0 + n * dt
  int64_t frequency = 100;      // dt: masks are updated every dt steps from t0
  bool global = false;          // one ranking across the tensors (else each tensor on its own)
};

class GradualPruning {
 public:
  explicit GradualPruning(const GradualPruningOptions& options);

  // s_t: initial_sparsity before begin_step (nothing is pruned then), final_sparsity from
  // end_step on.
  double SparsityAt(int64_t step) const;
  // Whether masks are updated at `step`: begin_step <= step <= end_step and
  // (step - begin_step) is a multiple of frequency.
  bool IsPruningStep(int64_t step) const;
  // On a pruning step, prunes (L1, unstructured) so that each parameter (global: all of them
  // together) has round(s_t * numel) entries pruned, composing with the masks already there;
  // returns whether it pruned. Masks only grow: a target below the current sparsity prunes
  // nothing.
  bool Step(int64_t step, const std::vector<Parameter*>& parameters) const;

  const GradualPruningOptions& options() const { return options_; }

 private:
  GradualPruningOptions options_;
};

}  // namespace millrace::ops
