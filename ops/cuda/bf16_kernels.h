// Conversions between f32 and bf16 for the bf16 autocast of ops/precision.h (Linear's and
// Conv2d's matmuls read bf16 copies of f32 tensors; cuDNN's bf16 gradients are added into f32
// ones). C++17, CUDA runtime only: bf16 data travels as uint16_t bits (core's Tensor has no C++
// bf16 type), which is the layout of cuda_bf16.h's __nv_bfloat16.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// out[i] = bf16(in[i]), rounded to nearest even (__float2bfloat16_rn); NaN stays NaN.
void LaunchF32ToBf16(const float* in, uint16_t* out, int64_t n, cudaStream_t stream);
// out[i] = f32(in[i]) (exact), or out[i] += f32(in[i]) when accumulate.
void LaunchBf16ToF32(const uint16_t* in, float* out, int64_t n, bool accumulate,
                     cudaStream_t stream);

}  // namespace millrace::ops::cuda
