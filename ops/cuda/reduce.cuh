// Warp and block reductions shared by the CUDA kernels of millrace_ops (.cu files only: this
// header is CUDA C++). Sums in the type given (double where a kernel wants the CPU's double
// accumulation); the order of a reduction is fixed by the launch shape, so a result is the same
// from run to run, though not the CPU's bits.
#pragma once

#include <cuda_runtime.h>

namespace millrace::ops::cuda {

inline constexpr unsigned kFullWarp = 0xffffffffu;
inline constexpr int kWarpSize = 32;

// Every lane of a full warp gets the sum (or maximum) of the warp's values.
template <typename T>
__device__ __forceinline__ T WarpSum(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(kFullWarp, v, offset);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, offset));
  }
  return v;
}

// The sum of every thread's v over a block whose size is a multiple of 32 (at most 1024);
// valid in thread 0. Every thread of the block must call it.
template <typename T>
__device__ T BlockSum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  v = WarpSum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  v = threadIdx.x < warps ? partial[threadIdx.x] : T(0);
  if (warp == 0) v = WarpSum(v);
  return v;
}

}  // namespace millrace::ops::cuda
