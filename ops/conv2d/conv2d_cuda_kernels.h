// Launchers of Conv2d's own CUDA kernels, for conv2d_cuda.cc. C++17, CUDA runtime only (the .cu
// that defines them cannot include the C++20 core headers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// The convolution's epilogue, in place on y: [batch, channels, plane] (plane = Ho * Wo):
//   y[n][c][p] = relu?(y[n][c][p] + bias[c])
// bias may be null (no bias); relu applies the fused ReLU (fused_relu_kernels.h's semantics).
void LaunchConv2dBiasRelu(float* y, const float* bias, int64_t batch, int64_t channels,
                          int64_t plane, bool relu, cudaStream_t stream);

}  // namespace millrace::ops::cuda
