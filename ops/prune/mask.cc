// MaskMultiply and CountZeros: checks and backend dispatch.
#include "ops/prune/mask.h"

#include "core/error.h"

namespace millrace::ops {

KernelTable<MaskMultiplyKernel>& MaskMultiplyKernels() {
  static KernelTable<MaskMultiplyKernel> table("MaskMultiply");
  return table;
}

KernelTable<CountZerosKernel>& CountZerosKernels() {
  static KernelTable<CountZerosKernel> table("CountZeros");
  return table;
}

int64_t CountZeros(const Tensor& x) {
  MILLRACE_CHECK_ARG(x.defined() && x.dtype() == DType::kF32,
                     "CountZeros: the tensor must be a defined f32 tensor");
  return CountZerosKernels().Get(x.device())(x);
}

void MaskMultiply(Tensor& x, const Tensor& mask) {
  MILLRACE_CHECK_ARG(x.defined() && mask.defined(), "MaskMultiply: undefined tensor");
  MILLRACE_CHECK_ARG(x.dtype() == DType::kF32 && mask.dtype() == DType::kF32,
                     "MaskMultiply: tensor and mask must be f32, got "
                         << ToString(x.dtype()) << " and " << ToString(mask.dtype()));
  MILLRACE_CHECK_ARG(x.shape() == mask.shape(),
                     "MaskMultiply: tensor " << ToString(x.shape()) << " and mask "
                                             << ToString(mask.shape()) << " differ in shape");
  MILLRACE_CHECK_ARG(x.device() == mask.device(), "MaskMultiply: tensor on "
                                                      << x.device().ToString() << ", mask on "
                                                      << mask.device().ToString());
  MaskMultiplyKernels().Get(x.device())(x, mask);
}

}  // namespace millrace::ops
