// Launchers of the element-wise layers' CUDA kernels (relu_cuda.cu, dropout_cuda.cu), shared by
// the C++20 host glue and the C++17 .cu files: raw pointers, sizes, a stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// y[i] = x[i] > 0 ? x[i] : 0 (oneDNN's ReLU: -0 and NaN become 0, as on the CPU).
void LaunchReluForward(const float* x, float* y, int64_t n, cudaStream_t stream);
// dx[i] = x[i] > 0 ? dy[i] : 0.
void LaunchReluBackward(const float* x, const float* dy, float* dx, int64_t n, cudaStream_t stream);
// y[i] = x[i] * scale[i] (Dropout's forward with its drawn scales, and its backward).
void LaunchScaleBy(const float* x, const float* scale, float* y, int64_t n, cudaStream_t stream);

}  // namespace millrace::ops::cuda
