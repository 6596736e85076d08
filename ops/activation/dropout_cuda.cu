// Dropout on CUDA: the element-wise product with the drawn scales (dropout_cuda.cc draws them).
//   forward: y[i] = x[i] * scale[i]      backward: dx[i] = dy[i] * scale[i]
#include "ops/activation/activation_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kScaleThreads = 256;
constexpr int64_t kScaleMaxBlocks = 4096;

__global__ void ScaleByKernel(const float* x, const float* scale, float* y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = x[i] * scale[i];
  }
}

}  // namespace

void LaunchScaleBy(const float* x, const float* scale, float* y, int64_t n, cudaStream_t stream) {
  int64_t blocks = (n + kScaleThreads - 1) / kScaleThreads;
  blocks = blocks < 1 ? 1 : blocks > kScaleMaxBlocks ? kScaleMaxBlocks : blocks;
  ScaleByKernel<<<static_cast<unsigned>(blocks), kScaleThreads, 0, stream>>>(x, scale, y, n);
}

}  // namespace millrace::ops::cuda
