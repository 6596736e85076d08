// ReLU on CUDA: grid-stride element-wise passes over plain tensors.
//   forward: y = x > 0 ? x : 0      backward: dx = x > 0 ? dy : 0
#include "ops/activation/activation_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kReluThreads = 256;
constexpr int64_t kReluMaxBlocks = 4096;

unsigned ReluBlocks(int64_t n) {
  const int64_t blocks = (n + kReluThreads - 1) / kReluThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > kReluMaxBlocks ? kReluMaxBlocks : blocks);
}

__global__ void ReluForwardKernel(const float* x, float* y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float v = x[i];
    y[i] = v > 0 ? v : 0.0f;
  }
}

__global__ void ReluBackwardKernel(const float* x, const float* dy, float* dx, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dx[i] = x[i] > 0 ? dy[i] : 0.0f;
  }
}

}  // namespace

void LaunchReluForward(const float* x, float* y, int64_t n, cudaStream_t stream) {
  ReluForwardKernel<<<ReluBlocks(n), kReluThreads, 0, stream>>>(x, y, n);
}

void LaunchReluBackward(const float* x, const float* dy, float* dx, int64_t n,
                        cudaStream_t stream) {
  ReluBackwardKernel<<<ReluBlocks(n), kReluThreads, 0, stream>>>(x, dy, dx, n);
}

}  // namespace millrace::ops::cuda
