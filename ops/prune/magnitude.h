// Magnitude pruning with torch.nn.utils.prune's semantics, masks kept in Parameter::mask.
//
//   L1Unstructured(*model.FindParameter("fc1.weight"), PruneAmount::Fraction(0.5));
//   GlobalL1Unstructured(model.Parameters(), PruneAmount::Fraction(0.8));  // weights you choose
//   L2Structured(*model.FindParameter("conv1.weight"), PruneAmount::Count(4));  // output channels
//   sgd.Step();                       // masks the gradients before and the weights after
//   RemoveMask(param);                // bake: the zeros stay, the mask goes (prune.remove)
//
// Semantics, as torch.nn.utils.prune:
// - An amount is a fraction of the entries (rounded as Python's round(): half to even, so
//   0.5 of 5 entries prunes round(2.5) = 2) or a count.
// - Pruning a tensor that already has a mask composes like torch's PruningContainer: the
//   amount applies to the entries (or, structured, the output channels) still unpruned, and the
//   new mask is the old one with more zeros.
// - The entries pruned are those torch.topk(|w|, k, largest=False) returns (structured: the
//   channels kept are torch.topk(norm, n - k, largest=True)); ties are broken as torch's CPU
//   topk breaks them, see ops/prune/topk.h.
// - Importance is the current (masked) weight. torch ranks an already-pruned tensor by
//   weight_orig; the two agree on every unpruned entry, and differ only for L2Structured on a
//   tensor that unstructured pruning has already thinned (torch counts the pruned entries'
//   original values in a channel's norm, millrace counts them as 0).
// On every call the mask (f32 0/1, the value's shape) is applied to the value and, if defined,
// the gradient. A pruning call throws Error(kInvalidArgument) on a bad amount, naming the
// parameter. f32 parameters on any device with a backend: the global L1 selection, the scores
// (ranking.h) and MaskMultiply go through the backend seam (a mask is made on its value's
// device); L2Structured ranks its channels' norms on the host and writes the pruned channels
// through a host copy of a device mask. One thread at a time per parameter.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/layer.h"

namespace millrace::ops {

class PruneAmount {
 public:
  static PruneAmount Fraction(double fraction);  // in [0, 1]
  static PruneAmount Count(int64_t count);       // >= 0
  // How many of `available` entries to prune; throws naming `what` when a count exceeds them.
  int64_t Resolve(int64_t available, const std::string& what) const;

 private:
  PruneAmount(bool is_fraction, double fraction, int64_t count)
      : is_fraction_(is_fraction), fraction_(fraction), count_(count) {}
  bool is_fraction_;
  double fraction_;
  int64_t count_;
};

// Prunes the entries of smallest |w| among the unpruned ones.
void L1Unstructured(Parameter& parameter, PruneAmount amount);
// One ranking of |w| across all the given parameters' unpruned entries (torch
// global_unstructured with L1Unstructured): the amount is of their total.
void GlobalL1Unstructured(const std::vector<Parameter*>& parameters, PruneAmount amount);
// Prunes whole output channels (dimension 0: rows of a Linear weight, filters of a Conv2d) of
// smallest L2 norm among the channels not yet pruned (torch ln_structured, n=2, dim=0).
void L2Structured(Parameter& parameter, PruneAmount amount);

// Multiplies the value and the gradient by the mask (no-op without a mask).
void ApplyMask(Parameter& parameter);
void ApplyMasks(const std::vector<Parameter*>& parameters);
// Bakes the mask into the weights and drops it (torch prune.remove).
void RemoveMask(Parameter& parameter);
// Entries whose mask is 0 (0 without a mask).
int64_t PrunedCount(const Parameter& parameter);

}  // namespace millrace::ops
