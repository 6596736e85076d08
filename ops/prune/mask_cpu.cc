// MaskMultiply on the CPU.   x, mask: n elements;  x[i] *= mask[i]
#include "ops/prune/mask.h"

namespace millrace::ops::cpu {

void MaskMultiply(Tensor& x, const Tensor& mask) {
  float* v = x.data<float>();
  const float* m = mask.data<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) v[i] *= m[i];
}

}  // namespace millrace::ops::cpu
