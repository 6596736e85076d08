// The masks' kernels on CUDA: grid-stride passes.   x, mask: n elements
//   MaskMultiply: x[i] *= mask[i]      CountZeros: #{i : x[i] == 0}, per block then one atomic
#include "ops/cuda/reduce.cuh"
#include "ops/prune/prune_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kMaskThreads = 256;
constexpr int64_t kMaskMaxBlocks = 4096;

unsigned MaskBlocks(int64_t n) {
  const int64_t blocks = (n + kMaskThreads - 1) / kMaskThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > kMaskMaxBlocks ? kMaskMaxBlocks : blocks);
}

__global__ void MaskMultiplyKernel(float* x, const float* mask, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    x[i] *= mask[i];
  }
}

__global__ void CountZerosKernel(const float* x, int64_t n, unsigned long long* zeros) {
  unsigned long long count = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    count += x[i] == 0.0f;
  }
  count = BlockSum(count);
  if (threadIdx.x == 0) atomicAdd(zeros, count);  // integers: any order gives the same sum
}

}  // namespace

void LaunchMaskMultiply(float* x, const float* mask, int64_t n, cudaStream_t stream) {
  MaskMultiplyKernel<<<MaskBlocks(n), kMaskThreads, 0, stream>>>(x, mask, n);
}

void LaunchCountZeros(const float* x, int64_t n, unsigned long long* zeros, cudaStream_t stream) {
  CountZerosKernel<<<MaskBlocks(n), kMaskThreads, 0, stream>>>(x, n, zeros);
}

}  // namespace millrace::ops::cuda
