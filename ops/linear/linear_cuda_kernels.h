// Launchers of Linear's own CUDA kernels (linear_cuda.cu; the matmuls are cuBLASLt's), shared by
// the C++20 host glue (linear_cuda.cc) and the C++17 .cu: raw pointers, sizes, a stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// db[o] += sum over n of dy[n, o], n in order (the CPU loop's order: the same bits).
// dy: [rows, cols] row-major; db: [cols].
void LaunchLinearBiasGrad(const float* dy, int64_t rows, int64_t cols, float* db,
                          cudaStream_t stream);
// y[n, o] += bias[o] (bias null: none), then y = y > 0 ? y : 0 when relu: the forward's
// epilogue where cuBLASLt has no algorithm with it. y: [rows, cols] row-major.
void LaunchLinearEpilogue(float* y, const float* bias, int64_t rows, int64_t cols, bool relu,
                          cudaStream_t stream);
// masked[i] = y[i] > 0 ? dy[i] : 0: the gradient at a fused ReLU's input.
void LaunchLinearReluMask(const float* y, const float* dy, float* masked, int64_t n,
                          cudaStream_t stream);

}  // namespace millrace::ops::cuda
