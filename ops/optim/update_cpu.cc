// The optimizers' updates on the CPU: one loop over the elements, in f32 (update.h has the
// formulas), split across the compute thread's OpenMP team when a tensor is large enough to
// pay for the fork (each element is updated alone, so any split gives the same bits).
#include <cmath>

#include "ops/optim/update.h"

namespace millrace::ops::cpu {

namespace {
constexpr int64_t kParallelFrom = 1 << 16;  // elements; below, one thread
}  // namespace

void SgdUpdate(Tensor& weights, const Tensor& gradient, Tensor& momentum_buffer,
               const SgdUpdateConfig& config) {
  const float rate = config.lr;
  const float wd = config.weight_decay;
  const float momentum = config.momentum;
  const float damp = config.damp;
  const bool nesterov = config.nesterov;
  float* w = weights.data<float>();
  const float* grad = gradient.data<float>();
  const int64_t n = weights.numel();
  if (momentum == 0) {
#pragma omp parallel for schedule(static) if (n >= kParallelFrom)
    for (int64_t i = 0; i < n; ++i) w[i] -= rate * (grad[i] + wd * w[i]);
    return;
  }
  float* buf = momentum_buffer.data<float>();
  const bool first = config.first_step;
#pragma omp parallel for schedule(static) if (n >= kParallelFrom)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + wd * w[i];
    buf[i] = first ? g : momentum * buf[i] + damp * g;
    w[i] -= rate * (nesterov ? g + momentum * buf[i] : buf[i]);
  }
}

void AdamWUpdate(Tensor& weights, const Tensor& gradient, Tensor& m_t, Tensor& v_t,
                 const AdamWUpdateConfig& config) {
  const float decay = config.decay;
  const float beta1 = config.beta1;
  const float beta2 = config.beta2;
  const float step_size = config.step_size;
  const float inv_sqrt_c2 = config.inv_sqrt_c2;
  const float eps = config.eps;
  float* w = weights.data<float>();
  const float* g = gradient.data<float>();
  float* m = m_t.data<float>();
  float* v = v_t.data<float>();
  const int64_t n = weights.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelFrom)
  for (int64_t i = 0; i < n; ++i) {
    w[i] *= decay;
    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    w[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
  }
}

}  // namespace millrace::ops::cpu
