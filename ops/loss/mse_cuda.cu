// Mean squared error on CUDA: a grid-stride pass writing the gradient, each block's sum of
// squares in double (the host adds the blocks' sums in block order).
//   prediction, target, grad: n elements;  grad = 2 (p - t) / n
#include "ops/cuda/reduce.cuh"
#include "ops/loss/loss_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kMseThreads = 256;
constexpr int kMseMaxBlocks = 1024;  // partial sums read back: 8 KiB at most

__global__ void MseKernel(const float* p, const float* t, int64_t n, float scale, float* g,
                          double* block_sums) {
  double sum = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float d = p[i] - t[i];
    sum += static_cast<double>(d) * d;
    g[i] = scale * d;
  }
  sum = BlockSum(sum);
  if (threadIdx.x == 0) block_sums[blockIdx.x] = sum;
}

}  // namespace

int MseMaxBlocks() { return kMseMaxBlocks; }

void LaunchMse(const float* prediction, const float* target, int64_t n, float scale, float* grad,
               double* block_sums, int blocks, cudaStream_t stream) {
  MseKernel<<<blocks, kMseThreads, 0, stream>>>(prediction, target, n, scale, grad, block_sums);
}

}  // namespace millrace::ops::cuda
