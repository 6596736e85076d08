// Structured pruning that physically shrinks a Sequential: whole output units of a Linear,
// output channels of a Conv2d or of a DepthwiseSeparable block (its pointwise conv and second
// batch norm) are removed, with the inputs of the next Linear / Conv2d / DepthwiseSeparable
// that read them (and the BatchNorm2d channels, depthwise-conv channels, ReLU, Dropout, pooling
// and Flatten in between). The pruned model does less arithmetic, which masks alone
// (torch.nn.utils.prune) never achieve.
//
//   // fc1: Linear(784 -> 500) becomes Linear(784 -> 250); fc2: Linear(500 -> 10) becomes
//   // Linear(250 -> 10); the 250 hidden units of smallest L2 norm are gone.
//   ShrinkByL2(mlp, "fc1", PruneAmount::Fraction(0.5));
//
// The result computes exactly what the model computed with those units' weight rows, biases and
// outgoing weights set to 0 (up to float summation order). Layers are rebuilt (new Parameter
// objects): build optimizers after shrinking, or rebuild them. Masks of the surviving entries
// are kept, sliced like the weights. Throws Error(kInvalidArgument) naming the layer when it is
// not a Linear / Conv2d (groups 1) / DepthwiseSeparable, when it is the model's last layer with
// parameters, or when a layer between it and the next consumer is one this function cannot see
// through.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/prune/magnitude.h"
#include "ops/sequential.h"

namespace millrace::ops {

// Keeps only output units/channels `keep` (indices into dimension 0 of the layer's weight,
// strictly increasing, at least one) of layer `layer_name`, and shrinks the layers after it.
void ShrinkOutputs(Sequential& model, const std::string& layer_name,
                   const std::vector<int64_t>& keep);

// Removes the `amount` output units/channels of smallest L2 norm of the weight (a block's:
// its pointwise weight) (torch
// ln_structured's ranking and tie rule, see ops/prune/topk.h); returns the kept indices.
std::vector<int64_t> ShrinkByL2(Sequential& model, const std::string& layer_name,
                                PruneAmount amount);

// Realises a structured mask: removes the output units/channels whose weight-mask rows are all
// 0 (as L2Structured leaves them); returns the kept indices. Without a mask, removes nothing.
std::vector<int64_t> ShrinkMaskedOutputs(Sequential& model, const std::string& layer_name);

}  // namespace millrace::ops
