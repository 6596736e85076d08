#include "ops/activation/dropout.h"

#include <sstream>

#include "ops/cpu/dnnl_context.h"

namespace millrace::ops {

Dropout::Dropout(double p, uint64_t seed) : p_(p), rng_(seed) {
  MILLRACE_CHECK_ARG(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got " << p);
}

std::string Dropout::Describe() const {
  std::ostringstream s;
  s << "Dropout(p=" << p_ << ")";
  return s.str();
}

Tensor Dropout::Forward(const Tensor& x, Mode mode) {
  cpu::CheckCpuF32(x, "Dropout");
  if (mode == Mode::kEval) {
    scale_ = Tensor();
    return x.View();
  }
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

Tensor Dropout::Backward(const Tensor& dy) {
  cpu::CheckCpuF32(dy, "Dropout");
  MILLRACE_CHECK_ARG(scale_.defined(), Describe() << ": Backward without a train-mode Forward");
  MILLRACE_CHECK_ARG(dy.shape() == scale_.shape(),
                     Describe() << ": gradient " << ToString(dy.shape())
                                << " does not match output " << ToString(scale_.shape()));
  Tensor dx = Tensor::Empty(dy.shape());
  const float* s = scale_.data<float>();
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t i = 0; i < dy.numel(); ++i) out[i] = g[i] * s[i];
  return dx;
}

}  // namespace millrace::ops
