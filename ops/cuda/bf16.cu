// The f32 <-> bf16 conversions of bf16_kernels.h: grid-stride elementwise loops.
#include <cuda_bf16.h>

#include "ops/cuda/bf16_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kBf16Threads = 256;
constexpr int64_t kBf16MaxBlocks = 4096;

unsigned Bf16Blocks(int64_t n) {
  int64_t blocks = (n + kBf16Threads - 1) / kBf16Threads;
  blocks = blocks < 1 ? 1 : blocks > kBf16MaxBlocks ? kBf16MaxBlocks : blocks;
  return static_cast<unsigned>(blocks);
}

__global__ void F32ToBf16Kernel(const float* in, __nv_bfloat16* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = __float2bfloat16_rn(in[i]);
  }
}

template <bool kAccumulate>
__global__ void Bf16ToF32Kernel(const __nv_bfloat16* in, float* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float v = __bfloat162float(in[i]);
    if constexpr (kAccumulate) {
      out[i] += v;
    } else {
      out[i] = v;
    }
  }
}

}  // namespace

void LaunchF32ToBf16(const float* in, uint16_t* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  F32ToBf16Kernel<<<Bf16Blocks(n), kBf16Threads, 0, stream>>>(
      in, reinterpret_cast<__nv_bfloat16*>(out), n);
}

void LaunchBf16ToF32(const uint16_t* in, float* out, int64_t n, bool accumulate,
                     cudaStream_t stream) {
  if (n <= 0) return;
  const auto* bf16 = reinterpret_cast<const __nv_bfloat16*>(in);
  if (accumulate) {
    Bf16ToF32Kernel<true><<<Bf16Blocks(n), kBf16Threads, 0, stream>>>(bf16, out, n);
  } else {
    Bf16ToF32Kernel<false><<<Bf16Blocks(n), kBf16Threads, 0, stream>>>(bf16, out, n);
  }
}

}  // namespace millrace::ops::cuda
