// Launchers of the pooling layers' CUDA kernels (pooling_cuda.cu), for pooling_cuda.cc. C++17,
// CUDA runtime only. Tensors are plain NCHW; a "plane" is one (n, c) image of H x W.
//
// Semantics are the CPU backend's (torch's): windows of kh x kw with one stride and zero
// padding on every side, floor output size, clipped to the input;
//   max:  the first maximum of the window in row-major order wins, a NaN wins over any number
//         (the last NaN of the window), padding never wins (max_pool_cpu.h);
//   mean: the sum over the window's valid part divided by kh * kw (count_include_pad) or by the
//         number of valid elements.
// The backward passes gather (each dx element sums the dy of the windows that cover it, in
// row-major order of the windows): no atomics, deterministic, and the same order of additions
// as the CPU's scatter for max pooling.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

struct Pool2dCudaGeometry {
  int64_t planes = 0;  // N * C
  int64_t h = 0, w = 0, ho = 0, wo = 0;
  int64_t kh = 0, kw = 0, stride = 1, padding = 0;
};

// y: [planes, ho, wo] = max over each window of x: [planes, h, w]; argmax (when not null) gets
// per output element the winner's offset in its plane (iy * w + ix).
void LaunchMaxPool2dForward(const float* x, float* y, int32_t* argmax, const Pool2dCudaGeometry& g,
                            cudaStream_t stream);
// dx: [planes, h, w] = the sum of the dy elements whose window's argmax is that element.
void LaunchMaxPool2dBackward(const float* dy, const int32_t* argmax, float* dx,
                             const Pool2dCudaGeometry& g, cudaStream_t stream);
// y = the mean over each window (see above for the divisor).
void LaunchAvgPool2dForward(const float* x, float* y, bool count_include_pad,
                            const Pool2dCudaGeometry& g, cudaStream_t stream);
// dx = the sum over the windows covering each element of dy / the window's divisor.
void LaunchAvgPool2dBackward(const float* dy, float* dx, bool count_include_pad,
                             const Pool2dCudaGeometry& g, cudaStream_t stream);

}  // namespace millrace::ops::cuda
