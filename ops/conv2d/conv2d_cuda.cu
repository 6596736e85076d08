// Conv2d's own CUDA kernel: the bias and fused-ReLU epilogue after cuDNN's convolution (one
// pass over y instead of cudnnAddTensor and an activation pass).
#include "ops/conv2d/conv2d_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kConv2dEpilogueThreads = 256;

template <bool kBias, bool kRelu>
__global__ void Conv2dBiasReluKernel(float* y, const float* bias, int64_t channels, int64_t plane,
                                     int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = y[i];
    if constexpr (kBias) v += bias[(i / plane) % channels];
    if constexpr (kRelu) v = (v > 0.f || v != v) ? v : 0.f;
    y[i] = v;
  }
}

}  // namespace

void LaunchConv2dBiasRelu(float* y, const float* bias, int64_t batch, int64_t channels,
                          int64_t plane, bool relu, cudaStream_t stream) {
  const int64_t n = batch * channels * plane;
  if (n <= 0 || (bias == nullptr && !relu)) return;
  const int64_t wanted = (n + kConv2dEpilogueThreads - 1) / kConv2dEpilogueThreads;
  const int blocks = static_cast<int>(wanted > 4096 ? 4096 : wanted);
  if (bias != nullptr && relu) {
    Conv2dBiasReluKernel<true, true>
        <<<blocks, kConv2dEpilogueThreads, 0, stream>>>(y, bias, channels, plane, n);
  } else if (bias != nullptr) {
    Conv2dBiasReluKernel<true, false>
        <<<blocks, kConv2dEpilogueThreads, 0, stream>>>(y, bias, channels, plane, n);
  } else {
    Conv2dBiasReluKernel<false, true>
        <<<blocks, kConv2dEpilogueThreads, 0, stream>>>(y, bias, channels, plane, n);
  }
}

}  // namespace millrace::ops::cuda
