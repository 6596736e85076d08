// The masks' kernels on the CPU.   x, mask: n elements
//   MaskMultiply: x[i] *= mask[i]      CountZeros: #{i : x[i] == 0}
#include "ops/prune/mask.h"

namespace millrace::ops::cpu {

void MaskMultiply(Tensor& x, const Tensor& mask) {
  float* v = x.data<float>();
  const float* m = mask.data<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) v[i] *= m[i];
}

int64_t CountZeros(const Tensor& x) {
  int64_t zeros = 0;
  for (float v : x.span<float>()) zeros += v == 0.0f;
  return zeros;
}

}  // namespace millrace::ops::cpu
