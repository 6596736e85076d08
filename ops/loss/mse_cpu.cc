// Mean squared error on the CPU: one pass, the sum in double.
//   prediction, target, grad: any shape, n elements;  grad = 2 (p - t) / n
#include "ops/loss/loss_kernels.h"

namespace millrace::ops::cpu {

double Mse(const Tensor& prediction, const Tensor& target, Tensor& grad) {
  const int64_t n = prediction.numel();
  const float* p = prediction.data<float>();
  const float* t = target.data<float>();
  float* g = grad.data<float>();
  const float scale = 2.0f / static_cast<float>(n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = p[i] - t[i];
    sum += static_cast<double>(d) * d;
    g[i] = scale * d;
  }
  return sum / static_cast<double>(n);
}

}  // namespace millrace::ops::cpu
