// MaskMultiply: checks and backend dispatch.
#include "ops/prune/mask.h"

#include "core/error.h"

namespace millrace::ops {

KernelTable<MaskMultiplyKernel>& MaskMultiplyKernels() {
  static KernelTable<MaskMultiplyKernel> table("MaskMultiply");
  return table;
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
