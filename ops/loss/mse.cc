#include "core/error.h"
#include "ops/loss/loss.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops {

KernelTable<MseKernel>& MseKernels() {
  static KernelTable<MseKernel> table("MseLoss");
  return table;
}

LossResult MseLoss(const Tensor& prediction, const Tensor& target) {
  MILLRACE_CHECK_ARG(prediction.defined() && target.defined(),
                     "MseLoss: prediction or target is undefined");
  MILLRACE_CHECK_ARG(prediction.device() == target.device(),
                     "MseLoss: prediction on " << prediction.device().ToString() << ", target on "
                                               << target.device().ToString());
  MILLRACE_CHECK_ARG(prediction.dtype() == DType::kF32 && target.dtype() == DType::kF32,
                     "MseLoss: prediction and target must be f32, got "
                         << ToString(prediction.dtype()) << " and " << ToString(target.dtype()));
  MILLRACE_CHECK_ARG(prediction.shape() == target.shape(),
                     "MseLoss: prediction " << ToString(prediction.shape()) << " and target "
                                            << ToString(target.shape()) << " differ in shape");
  MILLRACE_CHECK_ARG(prediction.numel() > 0, "MseLoss: empty prediction");
  const MseKernel kernel = MseKernels().Get(prediction.device());
  LossResult result;
  result.grad = Tensor::Empty(prediction.shape(), DType::kF32, prediction.device());
  result.loss = kernel(prediction, target, result.grad);
  return result;
}

}  // namespace millrace::ops
