// The ReLU that Conv2d and BatchNorm2d fuse on CUDA: elementwise, grid-stride loops
// (fused_relu_kernels.h has the contract).
#include "ops/cuda/fused_relu_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kFusedReluThreads = 256;

int FusedReluBlocks(int64_t n) {
  const int64_t blocks = (n + kFusedReluThreads - 1) / kFusedReluThreads;
  return static_cast<int>(blocks < 1 ? 1 : (blocks > 4096 ? 4096 : blocks));
}

__global__ void FusedReluForwardKernel(float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = y[i];
    y[i] = (v > 0.f || v != v) ? v : 0.f;
  }
}

__global__ void FusedReluBackwardKernel(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dx[i] = y[i] > 0.f ? dy[i] : 0.f;
  }
}

}  // namespace

void LaunchFusedReluForward(float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  FusedReluForwardKernel<<<FusedReluBlocks(n), kFusedReluThreads, 0, stream>>>(y, n);
}

void LaunchFusedReluBackward(const float* y, const float* dy, float* dx, int64_t n,
                             cudaStream_t stream) {
  if (n <= 0) return;
  FusedReluBackwardKernel<<<FusedReluBlocks(n), kFusedReluThreads, 0, stream>>>(y, dy, dx, n);
}

}  // namespace millrace::ops::cuda
