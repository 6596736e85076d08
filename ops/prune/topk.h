// The entries torch.topk selects on the CPU, as a set of indices; the tie rule of pruning.
//
// torch.topk documents ties as unspecified. Its CPU kernel (aten/src/ATen/native/TopKImpl.h,
// topk_impl_loop) fills a vector of (value as double, index) pairs in index order and runs
// std::partial_sort(first, first + k, last) when k * 64 <= n, else
// std::nth_element(first, first + k - 1, last), comparing values only (NaN counts as the
// largest); the first k pairs are the answer. TorchTopK runs those same calls on the same input,
// so, built against libstdc++ as PyTorch's Linux wheels are, it selects the same entries among
// ties as torch.topk on a CPU tensor. (For example, among 5 equal entries the 2 smallest are
// indices {2, 4}: nth_element's median-of-three pivot and partition put them first; among 128
// equal entries the 2 smallest are {0, 1}: partial_sort's heap keeps the first k.) CUDA torch
// may choose differently among ties.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace millrace::ops::internal {

// Indices of the k smallest (largest = false) or largest values, in no particular order.
// 0 <= k <= values.size().
std::vector<int64_t> TorchTopK(std::span<const float> values, int64_t k, bool largest);

}  // namespace millrace::ops::internal
