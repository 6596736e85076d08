// Precision: how the CUDA backend computes the matrix products of Linear and Conv2d. A setting
// of the calling thread (the device's one compute thread, ops/compute_thread.h), read by the
// ops each call; no CUDA types here, so CPU code and pipelines include it freely.
//
//   ops::SetComputePrecision(ops::Precision::kFp32);   // on the compute thread, before step 1
//   model.Forward(x, Mode::kTrain);                     // Linear / Conv2d on cuda:N: FP32 math
//
//   kFp32  FP32 inputs, products and sums (cuBLASLt CUBLAS_COMPUTE_32F, cuDNN CUDNN_FMA_MATH).
//   kTf32  the default: inputs rounded to TF32 (10-bit mantissa) on the tensor cores, FP32 sums
//          (CUBLAS_COMPUTE_32F_FAST_TF32, CUDNN_TENSOR_OP_MATH): relative errors ~1e-3 instead
//          of ~1e-6, several times the FP32 rate. On a device of compute capability < 8.0 (no
//          TF32) it means kFp32 (EffectivePrecision in ops/cuda/context.h).
//   kBf16  autocast: the f32 master weights and gradients stay f32; the matmuls read bf16
//          copies of their inputs and accumulate in FP32 (see linear_cuda.cc, conv2d_cuda.cc for
//          what each op supports; an op without it refuses with Error(kInvalidArgument)).
// BatchNorm, pooling, activations, losses and optimizers compute in f32 under every precision.
// The CPU backend (oneDNN) computes f32 whatever the setting: it is ignored there.
//
// Why per thread and not per model: the ops run on one compute thread per device (DESIGN.md),
// which owns the cuBLAS/cuDNN handles and plan caches that the precision selects among; a
// thread-local needs no plumbing through Sequential or the layers' constructors, and a teacher
// evaluated on the same device computes as the student does. The layers' plan caches are keyed
// by the precision, so changing it between steps is allowed (a new plan on first use).
//
// Thread safety: the setting is the calling thread's own; a new thread starts at kTf32.
#pragma once

#include <string_view>

namespace millrace::ops {

enum class Precision {
  kFp32,  // FP32 math
  kTf32,  // TF32 tensor cores, FP32 accumulation (the default; kFp32 without TF32 hardware)
  kBf16,  // bf16 inputs of the matmuls, FP32 accumulation, f32 weights, gradients and outputs
};

inline constexpr Precision kDefaultPrecision = Precision::kTf32;

// "fp32", "tf32", "bf16".
std::string_view PrecisionName(Precision precision);

// The calling thread's precision (kDefaultPrecision until set).
Precision ComputePrecision();
// Sets the calling thread's precision; the CUDA ops read it at each call.
void SetComputePrecision(Precision precision);

}  // namespace millrace::ops
