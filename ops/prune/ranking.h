// The scores that magnitude pruning ranks (magnitude.h), and the global L1 selection, as kernels
// behind the backend seam: each checks its tensors once, then runs the kernel registered for the
// value's device (ranking_cpu.cc and magnitude_cpu.cc; ranking_cuda.cc and magnitude_cuda.cc in
// a build with CUDA). The entries selected are always TorchTopK's (topk.h: torch's CPU topk and
// its tie rule): the CPU ranks on the host; CUDA sorts the scores with CUB and falls back to
// TorchTopK on the host only when ties straddle the k-th score.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/kernel_table.h"
#include "ops/prune/magnitude.h"

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

// The selection of GlobalL1Unstructured: among the unpruned entries of all `parameters` (mask !=
// 0, parameter by parameter in flat order), the k = amount.Resolve(count, what) of smallest |w|,
// TorchTopK's entries, get mask 0. Every parameter has a mask already (the caller makes them),
// all on one device; the masks are not applied here.
using L1PruneKernel = void (*)(const std::vector<Parameter*>& parameters, const PruneAmount& amount,
                               const std::string& what);
KernelTable<L1PruneKernel>& L1PruneKernels();

namespace cpu {
void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index);
void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms);
void L1Prune(const std::vector<Parameter*>& parameters, const PruneAmount& amount,
             const std::string& what);  // magnitude_cpu.cc
}  // namespace cpu

namespace cuda {  // ranking_cuda.cc, in a build with CUDA
void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index);
void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms);
void L1Prune(const std::vector<Parameter*>& parameters, const PruneAmount& amount,
             const std::string& what);  // magnitude_cuda.cc
}  // namespace cuda

}  // namespace millrace::ops
