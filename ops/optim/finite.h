// AllFinite: whether every element of some f32 tensors is finite (no NaN, no +-Inf). The
// training graph's non-finite guard asks it of all gradients at once after backward; on a GPU
// that is one reduction per tensor into one device flag and a single read back.
//
//   std::vector<const Tensor*> grads = ...;
//   if (!ops::AllFinite(grads)) ...   // which one: ask again tensor by tensor
//
// The tensors must share one device; checks once, then runs the kernel registered for it
// (finite_cpu.cc, finite_cuda.cc; "no kernel for AllFinite on <device>" otherwise).
#pragma once

#include <span>

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

bool AllFinite(std::span<const Tensor* const> tensors);

using AllFiniteKernel = bool (*)(std::span<const Tensor* const> tensors);
KernelTable<AllFiniteKernel>& AllFiniteKernels();

namespace cpu {
bool AllFinite(std::span<const Tensor* const> tensors);
}  // namespace cpu
namespace cuda {
bool AllFinite(std::span<const Tensor* const> tensors);
}  // namespace cuda

}  // namespace millrace::ops
