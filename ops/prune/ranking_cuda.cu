// Pruning scores on CUDA, in flat (row-major) order.
//   Abs / SelectUnmasked:  value [n]        -> |value[i]| of the unmasked entries, and their i
//   ChannelSquares:        value [C, per]   -> per channel: sum of value^2 (double), any mask != 0
// The selection keeps flat order (CUB's DeviceSelect is stable), as the CPU loop does.
#include <thrust/iterator/counting_iterator.h>

#include <cub/device/device_select.cuh>

#include "ops/cuda/reduce.cuh"
#include "ops/prune/prune_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kRankingThreads = 256;
constexpr int64_t kRankingMaxBlocks = 4096;

unsigned RankingBlocks(int64_t n) {
  const int64_t blocks = (n + kRankingThreads - 1) / kRankingThreads;
  return static_cast<unsigned>(blocks < 1                   ? 1
                               : blocks > kRankingMaxBlocks ? kRankingMaxBlocks
                                                            : blocks);
}

__global__ void AbsKernel(const float* value, int64_t n, float* scores) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    scores[i] = fabsf(value[i]);
  }
}

// scores[j] = |value[index[j] - base]| for j < *count.
__global__ void GatherAbsKernel(const float* value, int64_t base, const int64_t* index,
                                const int64_t* count, float* scores) {
  const int64_t n = *count;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += stride) {
    scores[j] = fabsf(value[index[j] - base]);
  }
}

// One block per channel.
__global__ void ChannelSquaresKernel(const float* value, const float* mask, int64_t per_channel,
                                     double* out) {
  const int64_t c = blockIdx.x;
  const float* w = value + c * per_channel;
  const float* m = mask == nullptr ? nullptr : mask + c * per_channel;
  double sum = 0;
  int any = m == nullptr;
  for (int64_t i = threadIdx.x; i < per_channel; i += blockDim.x) {
    sum += static_cast<double>(w[i]) * w[i];
    if (m != nullptr && m[i] != 0.0f) any = 1;
  }
  any = __syncthreads_or(any);
  sum = BlockSum(sum);
  if (threadIdx.x != 0) return;
  out[2 * c] = sum;
  out[2 * c + 1] = any ? 1.0 : 0.0;
}

}  // namespace

void LaunchAbs(const float* value, int64_t n, float* scores, cudaStream_t stream) {
  AbsKernel<<<RankingBlocks(n), kRankingThreads, 0, stream>>>(value, n, scores);
}

cudaError_t LaunchSelectUnmasked(const float* value, const float* mask, int64_t n, int64_t base,
                                 int64_t* index, float* scores, int64_t* count, void* temp,
                                 size_t* temp_bytes, cudaStream_t stream) {
  // A mask entry is a flag: != 0 selects (NaN too, as the CPU's m[i] == 0 test keeps it).
  const thrust::counting_iterator<int64_t> flat(base);
  const cudaError_t status =
      cub::DeviceSelect::Flagged(temp, *temp_bytes, flat, mask, index, count, n, stream);
  if (status != cudaSuccess || temp == nullptr) return status;
  GatherAbsKernel<<<RankingBlocks(n), kRankingThreads, 0, stream>>>(value, base, index, count,
                                                                    scores);
  return cudaSuccess;
}

void LaunchChannelSquares(const float* value, const float* mask, int64_t channels,
                          int64_t per_channel, double* out, cudaStream_t stream) {
  ChannelSquaresKernel<<<static_cast<unsigned>(channels), kRankingThreads, 0, stream>>>(
      value, mask, per_channel, out);
}

}  // namespace millrace::ops::cuda
