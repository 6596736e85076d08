#include "ops/cuda/bf16.h"

#include <cstdint>

#include "ops/cuda/bf16_kernels.h"
#include "ops/cuda/context.h"

namespace millrace::ops::cuda {

Tensor& ReuseBuffer(Tensor& buffer, const Shape& shape, DType dtype, Device device) {
  if (!buffer.defined() || buffer.shape() != shape || buffer.dtype() != dtype ||
      buffer.device() != device) {
    buffer = Tensor::Empty(shape, dtype, device);
  }
  return buffer;
}

void* Bf16Copy(const Tensor& f32, Tensor& buffer) {
  const Device device = f32.device();
  ReuseBuffer(buffer, f32.shape(), DType::kBF16, device);
  LaunchF32ToBf16(static_cast<const float*>(f32.raw_data()),
                  static_cast<uint16_t*>(buffer.raw_data()), f32.numel(), Stream(device));
  MILLRACE_CUDA_LAUNCH_CHECK("F32ToBf16");
  return buffer.raw_data();
}

void Bf16ToF32(const Tensor& bf16, Tensor& f32, bool accumulate) {
  MILLRACE_CHECK(bf16.numel() == f32.numel(), ErrorKind::kInternal,
                 "Bf16ToF32: " << ToString(bf16.shape()) << " into " << ToString(f32.shape()));
  LaunchBf16ToF32(static_cast<const uint16_t*>(bf16.raw_data()),
                  static_cast<float*>(f32.raw_data()), f32.numel(), accumulate,
                  Stream(f32.device()));
  MILLRACE_CUDA_LAUNCH_CHECK("Bf16ToF32");
}

}  // namespace millrace::ops::cuda
