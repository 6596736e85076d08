// Gemm: C = A B for plain row-major f32 matrices on one device. The device's GEMM ceiling that
// `millrace bench` measures, and a building block for ops that want a plain matrix product.
//
//   a: [M, K]   b: [K, N]   c: [M, N] (overwritten; allocated here when undefined)
//
//   Tensor c = Tensor::Empty({m, n}, DType::kF32, device);
//   ops::Gemm(a, b, c);                    // FP32
//   ops::Gemm(a, b, c, GemmMath::kTf32);   // TF32 tensor cores (CUDA only)
//   ops::Synchronize(device);              // ops/compute_thread.h: before reading a clock
//
// Device-neutral: checks its arguments once, then calls the kernel registered for a's device in
// GemmKernels() (gemm_cpu.cc: a oneDNN matmul, created once per shape and thread team and
// cached per thread; gemm_cuda.cc: cuBLAS on the thread's stream). On CUDA the work is queued,
// not waited for. M, K or N may be 0 (K = 0 gives C = 0).
//
// Math: kFp32 multiplies and accumulates in FP32 on every device. kTf32 lets the GPU round the
// inputs to TF32 (10-bit mantissa) on its tensor cores, accumulating in FP32: relative errors of
// ~1e-3 instead of ~1e-6. The CPU has no TF32 path and refuses kTf32 with Error(kInvalidArgument)
// rather than computing FP32 under a TF32 label (a benchmark would report the wrong thing).
//
// Thread safety: as every op, call it from the device's compute thread (ops/compute_thread.h);
// the CPU kernel's primitive cache and the CUDA handles are the calling thread's own.
#pragma once

#include <string_view>

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

enum class GemmMath {
  kFp32,  // FP32 inputs, products and sums
  kTf32,  // inputs rounded to TF32, FP32 sums (CUDA tensor cores; refused on the CPU)
};

// "fp32", "tf32".
std::string_view GemmMathName(GemmMath math);

// C = A B. Throws Error(kInvalidArgument) for tensors that are not defined, plain, f32, 2-D, on
// one device, of matching shapes, or when c shares storage with a or b.
void Gemm(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math = GemmMath::kFp32);

// A kernel gets checked arguments with M, K, N >= 1 and c of shape [M, N].
using GemmKernel = void (*)(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math);
KernelTable<GemmKernel>& GemmKernels();

namespace cpu {
void Gemm(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math);
}  // namespace cpu
namespace cuda {
void Gemm(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math);
}  // namespace cuda

}  // namespace millrace::ops
