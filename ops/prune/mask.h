// MaskMultiply: x *= mask, element by element; the one place a pruning mask is applied (to
// weights and to gradients: the optimizers, ApplyMask and the training graph's prune-mask
// stage call it). x, mask: f32, the same shape and device. Checks once, then runs the kernel
// registered for the device (mask_cpu.cc; another device throws
// "no kernel for MaskMultiply on cuda:0").
#pragma once

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

void MaskMultiply(Tensor& x, const Tensor& mask);

using MaskMultiplyKernel = void (*)(Tensor& x, const Tensor& mask);
KernelTable<MaskMultiplyKernel>& MaskMultiplyKernels();

namespace cpu {
void MaskMultiply(Tensor& x, const Tensor& mask);
}  // namespace cpu

}  // namespace millrace::ops
