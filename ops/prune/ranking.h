// The scores that magnitude pruning ranks (magnitude.h), as kernels behind the backend seam:
// each checks its tensors once, then runs the kernel registered for the value's device
// (ranking_cpu.cc; another device throws "no kernel for L1Scores on cuda:0"). The ranking of
// the scores (TorchTopK, topk.h) runs on the host: its tie rule is torch's CPU topk.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

// Appends |value[i]| for every entry i whose mask is not 0 (every entry when mask is
// undefined) to `scores`, and i (the flat index) to `index`, in flat order.
// value: f32 any shape; mask: undefined, or f32 0/1 of value's shape and device.
void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index);
// For each output channel c (dimension 0) that has a mask entry != 0 (every channel when mask
// is undefined): appends c to `alive` and the channel's L2 norm (sum of squares in double, the
// square root as f32) to `norms`. value: f32 [C, ...] with at least 2 dimensions.
void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms);

using L1ScoresKernel = void (*)(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
                                std::vector<int64_t>& index);
using ChannelL2NormsKernel = void (*)(const Tensor& value, const Tensor& mask,
                                      std::vector<int64_t>& alive, std::vector<float>& norms);
KernelTable<L1ScoresKernel>& L1ScoresKernels();
KernelTable<ChannelL2NormsKernel>& ChannelL2NormsKernels();

namespace cpu {
void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index);
void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms);
}  // namespace cpu

namespace cuda {  // ranking_cuda.cc, in a build with CUDA
void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index);
void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms);
}  // namespace cuda

}  // namespace millrace::ops
