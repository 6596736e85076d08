// Dropout on the CPU: the keep/drop draws from the layer's Rng, one per element in order.
//   forward:  scale[i] = U(0,1) >= p ? 1/(1-p) : 0;  y[i] = x[i] * scale[i]
//   backward: dx[i] = dy[i] * scale[i]
#include "ops/activation/dropout.h"

namespace millrace::ops {

Tensor Dropout::ForwardCpu(const Tensor& x) {
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p_));
  scale_ = Tensor::Empty(x.shape());
  Tensor y = Tensor::Empty(x.shape());
  float* s = scale_.data<float>();
  float* out = y.data<float>();
  const float* in = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    s[i] = rng_.Uniform() >= p_ ? keep_scale : 0.f;
    out[i] = in[i] * s[i];
  }
  return y;
}

Tensor Dropout::BackwardCpu(const Tensor& dy) {
  Tensor dx = Tensor::Empty(dy.shape());
  const float* s = scale_.data<float>();
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t i = 0; i < dy.numel(); ++i) out[i] = g[i] * s[i];
  return dx;
}

}  // namespace millrace::ops
