// Pruning scores on the CPU, in flat (row-major) order.
//   L1Scores:        value [n] (any shape)  -> |value[i]| of the unmasked entries
//   ChannelL2Norms:  value [C, per]         -> sqrt(sum of value^2) of the live channels
#include <cmath>

#include "ops/prune/ranking.h"

namespace millrace::ops::cpu {

void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index) {
  const float* w = value.data<float>();
  const float* m = mask.defined() ? mask.data<float>() : nullptr;
  for (int64_t i = 0, n = value.numel(); i < n; ++i) {
    if (m != nullptr && m[i] == 0.0f) continue;
    scores.push_back(std::fabs(w[i]));
    index.push_back(i);
  }
}

void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms) {
  const int64_t channels = value.dim(0);
  const int64_t per_channel = channels == 0 ? 0 : value.numel() / channels;
  const float* w = value.data<float>();
  const float* m = mask.defined() ? mask.data<float>() : nullptr;
  for (int64_t c = 0; c < channels; ++c) {
    bool any = m == nullptr;
    double sum = 0;
    for (int64_t i = c * per_channel; i < (c + 1) * per_channel; ++i) {
      any = any || m[i] != 0.0f;
      sum += static_cast<double>(w[i]) * w[i];
    }
    if (!any) continue;
    alive.push_back(c);
    norms.push_back(static_cast<float>(std::sqrt(sum)));
  }
}

}  // namespace millrace::ops::cpu
