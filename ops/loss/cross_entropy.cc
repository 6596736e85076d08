#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/loss/loss.h"

namespace millrace::ops {
namespace internal {

void CheckLogits(const Tensor& logits, const char* op, const char* what) {
  MILLRACE_CHECK_ARG(logits.defined(), op << ": " << what << " is undefined");
  MILLRACE_CHECK_ARG(logits.device().is_cpu(), op << ": only the CPU backend exists so far, "
                                                  << what << " is on "
                                                  << logits.device().ToString());
  MILLRACE_CHECK_ARG(logits.dtype() == DType::kF32,
                     op << ": " << what << " must be f32, got " << ToString(logits.dtype()));
  MILLRACE_CHECK_ARG(
      logits.ndim() == 2 && logits.dim(0) > 0 && logits.dim(1) > 0,
      op << ": " << what << " must be [batch, classes], got " << ToString(logits.shape()));
}

int64_t Label(const Tensor& labels, int64_t b) {
  return labels.dtype() == DType::kI64 ? labels.data<int64_t>()[b]
                                       : static_cast<int64_t>(labels.data<int32_t>()[b]);
}

void CheckLabels(const Tensor& labels, int64_t batch, int64_t classes, const char* op) {
  MILLRACE_CHECK_ARG(labels.defined() && labels.device().is_cpu(),
                     op << ": labels must be a CPU tensor");
  MILLRACE_CHECK_ARG(labels.dtype() == DType::kI64 || labels.dtype() == DType::kI32,
                     op << ": labels must be i64 (or i32), got " << ToString(labels.dtype()));
  MILLRACE_CHECK_ARG(
      labels.ndim() == 1 && labels.dim(0) == batch,
      op << ": labels " << ToString(labels.shape()) << " do not match a batch of " << batch);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t label = Label(labels, b);
    MILLRACE_CHECK(label >= 0 && label < classes, ErrorKind::kData,
                   op << ": label at batch index " << b << " is " << label << ", outside [0, "
                      << classes << ")");
  }
}

void CheckLabelSmoothing(double label_smoothing, const char* op) {
  MILLRACE_CHECK_ARG(label_smoothing >= 0 && label_smoothing < 1,
                     op << ": label smoothing must be in [0, 1), got " << label_smoothing);
}

}  // namespace internal

LossResult SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  internal::CheckLogits(logits, "SoftmaxCrossEntropy", "logits");
  internal::CheckLabelSmoothing(label_smoothing, "SoftmaxCrossEntropy");
  const int64_t batch = logits.dim(0);
  const int64_t classes = logits.dim(1);
  internal::CheckLabels(labels, batch, classes, "SoftmaxCrossEntropy");

  LossResult result;
  result.grad = Tensor::Empty(logits.shape());
  const float inv_batch = 1.0f / static_cast<float>(batch);
  // With smoothing: the target mass of every class (e / C) and the label's extra (1 - e).
  const float spread = static_cast<float>(label_smoothing / static_cast<double>(classes) /
                                          static_cast<double>(batch));
  const float hit = static_cast<float>((1 - label_smoothing) / static_cast<double>(batch));
  double total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const float* z = logits.data<float>() + b * classes;
    float* g = result.grad.data<float>() + b * classes;
    const int64_t label = internal::Label(labels, b);
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
  result.loss = total / static_cast<double>(batch);
  return result;
}

}  // namespace millrace::ops
