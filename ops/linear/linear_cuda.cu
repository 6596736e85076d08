// Linear's kernels on CUDA besides cuBLASLt's matmuls: the bias gradient (one thread per output
// feature, the batch summed in order, coalesced across the features), the fused ReLU's mask of
// the gradient, and the forward's bias and ReLU where cuBLASLt has no epilogue for them.
#include "ops/linear/linear_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kLinearThreads = 256;
constexpr int64_t kLinearMaxBlocks = 4096;

__global__ void LinearBiasGradKernel(const float* dy, int64_t rows, int64_t cols, float* db) {
  const int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= cols) return;
  float sum = db[o];  // db[o] += dy[0, o]; db[o] += dy[1, o]; ... as the CPU adds
  for (int64_t n = 0; n < rows; ++n) sum += dy[n * cols + o];
  db[o] = sum;
}

__global__ void LinearEpilogueKernel(float* y, const float* bias, int64_t rows, int64_t cols,
                                     bool relu) {
  const int64_t n = rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    float v = y[i];
    if (bias != nullptr) v += bias[i % cols];
    y[i] = relu ? (v > 0 ? v : 0.0f) : v;
  }
}

__global__ void LinearReluMaskKernel(const float* y, const float* dy, float* masked, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    masked[i] = y[i] > 0 ? dy[i] : 0.0f;
  }
}

}  // namespace

void LaunchLinearBiasGrad(const float* dy, int64_t rows, int64_t cols, float* db,
                          cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((cols + kLinearThreads - 1) / kLinearThreads);
  LinearBiasGradKernel<<<blocks, kLinearThreads, 0, stream>>>(dy, rows, cols, db);
}

void LaunchLinearEpilogue(float* y, const float* bias, int64_t rows, int64_t cols, bool relu,
                          cudaStream_t stream) {
  int64_t blocks = (rows * cols + kLinearThreads - 1) / kLinearThreads;
  blocks = blocks < 1 ? 1 : blocks > kLinearMaxBlocks ? kLinearMaxBlocks : blocks;
  LinearEpilogueKernel<<<static_cast<unsigned>(blocks), kLinearThreads, 0, stream>>>(y, bias, rows,
                                                                                     cols, relu);
}

void LaunchLinearReluMask(const float* y, const float* dy, float* masked, int64_t n,
                          cudaStream_t stream) {
  int64_t blocks = (n + kLinearThreads - 1) / kLinearThreads;
  blocks = blocks < 1 ? 1 : blocks > kLinearMaxBlocks ? kLinearMaxBlocks : blocks;
  LinearReluMaskKernel<<<static_cast<unsigned>(blocks), kLinearThreads, 0, stream>>>(y, dy, masked,
                                                                                     n);
}

}  // namespace millrace::ops::cuda
