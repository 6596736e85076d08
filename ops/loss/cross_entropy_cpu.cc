// Softmax cross-entropy on the CPU: one pass per row, log-sum-exp with the row maximum
// subtracted, the sum in double.   logits: [B, C]   labels: [B]   grad: [B, C]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops::cpu {

int64_t Label(const Tensor& labels, int64_t b) {
  return labels.dtype() == DType::kI64 ? labels.data<int64_t>()[b]
                                       : static_cast<int64_t>(labels.data<int32_t>()[b]);
}

void CheckLabelRange(const Tensor& labels, int64_t classes, const char* op) {
  const int64_t batch = labels.dim(0);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t label = Label(labels, b);
    MILLRACE_CHECK(label >= 0 && label < classes, ErrorKind::kData,
                   op << ": label at batch index " << b << " is " << label << ", outside [0, "
                      << classes << ")");
  }
}

double SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                           Tensor& grad) {
  const int64_t batch = logits.dim(0);
  const int64_t classes = logits.dim(1);
  CheckLabelRange(labels, classes, "SoftmaxCrossEntropy");
  const float inv_batch = 1.0f / static_cast<float>(batch);
  // With smoothing: the target mass of every class (e / C) and the label's extra (1 - e).
  const float spread = static_cast<float>(label_smoothing / static_cast<double>(classes) /
                                          static_cast<double>(batch));
  const float hit = static_cast<float>((1 - label_smoothing) / static_cast<double>(batch));
  double total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const float* z = logits.data<float>() + b * classes;
    float* g = grad.data<float>() + b * classes;
    const int64_t label = Label(labels, b);
    const float max = *std::max_element(z, z + classes);
    // softmax = exp(z - max) / sum; loss = log(sum) - (z[label] - max).
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      g[c] = std::exp(z[c] - max);
      sum += g[c];
    }
    const float scale = static_cast<float>(1.0 / sum) * inv_batch;
    for (int64_t c = 0; c < classes; ++c) g[c] *= scale;
    if (label_smoothing == 0) {
      g[label] -= inv_batch;
      total += std::log(sum) - (static_cast<double>(z[label]) - max);
      continue;
    }
    // q = (1 - e) * onehot + e / C; sum_c q[c] = 1, so the max cancels as above.
    double mean_z = 0;
    for (int64_t c = 0; c < classes; ++c) {
      g[c] -= spread;
      mean_z += static_cast<double>(z[c]) - max;
    }
    mean_z /= static_cast<double>(classes);
    g[label] -= hit;
    total += std::log(sum) - (1 - label_smoothing) * (static_cast<double>(z[label]) - max) -
             label_smoothing * mean_z;
  }
  return total / static_cast<double>(batch);
}

// On the CPU the loss is computed at once: terms = {mean loss, no bad label}, divisor 1, so
// that ReadDeferredLoss gives SoftmaxCrossEntropy's value to the bit.
int64_t SoftmaxCrossEntropyDeferred(const Tensor& logits, const Tensor& labels,
                                    double label_smoothing, Tensor& grad, Tensor& terms) {
  const double loss = SoftmaxCrossEntropy(logits, labels, label_smoothing, grad);
  terms = Tensor::Empty({2}, DType::kF64);
  terms.data<double>()[0] = loss;
  const uint64_t none = ~uint64_t{0};
  std::memcpy(terms.data<double>() + 1, &none, sizeof none);
  return 1;
}

}  // namespace millrace::ops::cpu
