// Gemm: checks and backend dispatch.
#include "ops/linear/gemm.h"

#include "core/error.h"

namespace millrace::ops {

namespace {

void CheckGemmOperand(const Tensor& t, const char* name) {
  MILLRACE_CHECK_ARG(t.defined(), "Gemm: " << name << " is undefined");
  MILLRACE_CHECK_ARG(t.dtype() == DType::kF32 && t.ndim() == 2 && t.plain(),
                     "Gemm: " << name << " must be a plain 2-D f32 tensor, got "
                              << ToString(t.shape()) << (t.plain() ? "" : " in a backend layout")
                              << " of " << ToString(t.dtype()));
}

}  // namespace

std::string_view GemmMathName(GemmMath math) { return math == GemmMath::kTf32 ? "tf32" : "fp32"; }

KernelTable<GemmKernel>& GemmKernels() {
  static KernelTable<GemmKernel> table("Gemm");
  return table;
}

void Gemm(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math) {
  CheckGemmOperand(a, "a");
  CheckGemmOperand(b, "b");
  const Device device = a.device();
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  MILLRACE_CHECK_ARG(b.dim(0) == k, "Gemm: a " << ToString(a.shape()) << " times b "
                                               << ToString(b.shape())
                                               << ": a's columns must equal b's rows");
  MILLRACE_CHECK_ARG(b.device() == device,
                     "Gemm: a is on " << device.ToString() << ", b on " << b.device().ToString());
  if (!c.defined()) c = Tensor::Empty({m, n}, DType::kF32, device);
  CheckGemmOperand(c, "c");
  MILLRACE_CHECK_ARG(c.shape() == Shape({m, n}), "Gemm: c is " << ToString(c.shape()) << ", a "
                                                               << ToString(a.shape()) << " times b "
                                                               << ToString(b.shape()) << " is ["
                                                               << m << ", " << n << "]");
  MILLRACE_CHECK_ARG(c.device() == device,
                     "Gemm: a is on " << device.ToString() << ", c on " << c.device().ToString());
  MILLRACE_CHECK_ARG(!c.SharesStorageWith(a) && !c.SharesStorageWith(b),
                     "Gemm: c must not share memory with a or b");
  const GemmKernel kernel = GemmKernels().Get(device);
  if (c.numel() == 0) return;
  if (k == 0) {  // an empty sum
    c.Zero();
    return;
  }
  kernel(a, b, c, math);
}

}  // namespace millrace::ops
