// The masks' element-wise kernels: MaskMultiply and CountZeros.
//
// MaskMultiply: x *= mask, element by element; the one place a pruning mask is applied (to
// weights and to gradients: the optimizers, ApplyMask and the training graph's prune-mask
// stage call it). x, mask: f32, the same shape and device. Checks once, then runs the kernel
// registered for the device (mask_cpu.cc; mask_cuda.cc in a build with CUDA).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

void MaskMultiply(Tensor& x, const Tensor& mask);

// CountZeros: how many elements of x (f32, any device) are exactly 0: a mask's pruned entries,
// a weight's zeros (sparsity reports). Same seam; on CUDA the count is read back (a host sync).
int64_t CountZeros(const Tensor& x);

using MaskMultiplyKernel = void (*)(Tensor& x, const Tensor& mask);
using CountZerosKernel = int64_t (*)(const Tensor& x);
KernelTable<MaskMultiplyKernel>& MaskMultiplyKernels();
KernelTable<CountZerosKernel>& CountZerosKernels();

namespace cpu {
void MaskMultiply(Tensor& x, const Tensor& mask);
int64_t CountZeros(const Tensor& x);
}  // namespace cpu

namespace cuda {  // mask_cuda.cc, in a build with CUDA
void MaskMultiply(Tensor& x, const Tensor& mask);
int64_t CountZeros(const Tensor& x);
}  // namespace cuda

}  // namespace millrace::ops
