// The global L1 selection's kernels on CUDA: CUB's radix sort of the scores, and the writes of
// the selected entries' zeros into their parameters' masks.
#include <cub/device/device_radix_sort.cuh>

#include "ops/prune/prune_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kZeroThreads = 256;
constexpr int64_t kZeroMaxBlocks = 4096;

__global__ void ZeroSelectedKernel(const int64_t* positions, int64_t k, float* const* masks,
                                   const int64_t* first, int32_t parameters) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < k;
       j += stride) {
    const int64_t p = positions[j];
    // The owner: the last t with first[t] <= p (a binary search over a few parameters).
    int32_t lo = 0, hi = parameters - 1;
    while (lo < hi) {
      const int32_t mid = (lo + hi + 1) / 2;
      if (first[mid] <= p) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    masks[lo][p - first[lo]] = 0.0f;
  }
}

}  // namespace

cudaError_t LaunchSortScores(const float* scores, float* sorted_scores, const int64_t* positions,
                             int64_t* sorted_positions, int64_t n, void* temp, size_t* temp_bytes,
                             cudaStream_t stream) {
  return cub::DeviceRadixSort::SortPairs(temp, *temp_bytes, scores, sorted_scores, positions,
                                         sorted_positions, n, 0,
                                         static_cast<int>(sizeof(float) * 8), stream);
}

void LaunchZeroSelected(const int64_t* positions, int64_t k, float* const* masks,
                        const int64_t* first, int32_t parameters, cudaStream_t stream) {
  int64_t blocks = (k + kZeroThreads - 1) / kZeroThreads;
  blocks = blocks < 1 ? 1 : blocks > kZeroMaxBlocks ? kZeroMaxBlocks : blocks;
  ZeroSelectedKernel<<<static_cast<unsigned>(blocks), kZeroThreads, 0, stream>>>(
      positions, k, masks, first, parameters);
}

}  // namespace millrace::ops::cuda
