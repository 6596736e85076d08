#include "core/error.h"
#include "ops/loss/loss.h"

namespace millrace::ops {

LossResult MseLoss(const Tensor& prediction, const Tensor& target) {
  MILLRACE_CHECK_ARG(prediction.device().is_cpu() && target.device().is_cpu(),
                     "MseLoss: only the CPU backend exists so far, got tensors on "
                         << prediction.device().ToString() << " and "
                         << target.device().ToString());
  MILLRACE_CHECK_ARG(prediction.dtype() == DType::kF32 && target.dtype() == DType::kF32,
                     "MseLoss: prediction and target must be f32, got "
                         << ToString(prediction.dtype()) << " and " << ToString(target.dtype()));
  MILLRACE_CHECK_ARG(prediction.shape() == target.shape(),
                     "MseLoss: prediction " << ToString(prediction.shape()) << " and target "
                                            << ToString(target.shape()) << " differ in shape");
  const int64_t n = prediction.numel();
  MILLRACE_CHECK_ARG(n > 0, "MseLoss: empty prediction");
  LossResult result;
  result.grad = Tensor::Empty(prediction.shape());
  const float* p = prediction.data<float>();
  const float* t = target.data<float>();
  float* g = result.grad.data<float>();
  const float scale = 2.0f / static_cast<float>(n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = p[i] - t[i];
    sum += static_cast<double>(d) * d;
    g[i] = scale * d;
  }
  result.loss = sum / static_cast<double>(n);
  return result;
}

}  // namespace millrace::ops
