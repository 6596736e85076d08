#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/loss/loss.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops {
namespace internal {

void CheckLogits(const Tensor& logits, const char* op, const char* what) {
  MILLRACE_CHECK_ARG(logits.defined(), op << ": " << what << " is undefined");
  MILLRACE_CHECK_ARG(logits.dtype() == DType::kF32,
                     op << ": " << what << " must be f32, got " << ToString(logits.dtype()));
  MILLRACE_CHECK_ARG(
      logits.ndim() == 2 && logits.dim(0) > 0 && logits.dim(1) > 0,
      op << ": " << what << " must be [batch, classes], got " << ToString(logits.shape()));
}

void CheckLabels(const Tensor& labels, const Tensor& logits, const char* op) {
  const int64_t batch = logits.dim(0);
  MILLRACE_CHECK_ARG(labels.defined(), op << ": labels are undefined");
  MILLRACE_CHECK_ARG(labels.device() == logits.device(),
                     op << ": labels on " << labels.device().ToString() << ", logits on "
                        << logits.device().ToString());
  MILLRACE_CHECK_ARG(labels.dtype() == DType::kI64 || labels.dtype() == DType::kI32,
                     op << ": labels must be i64 (or i32), got " << ToString(labels.dtype()));
  MILLRACE_CHECK_ARG(
      labels.ndim() == 1 && labels.dim(0) == batch,
      op << ": labels " << ToString(labels.shape()) << " do not match a batch of " << batch);
}

void CheckLabelSmoothing(double label_smoothing, const char* op) {
  MILLRACE_CHECK_ARG(label_smoothing >= 0 && label_smoothing < 1,
                     op << ": label smoothing must be in [0, 1), got " << label_smoothing);
}

}  // namespace internal

KernelTable<SoftmaxCrossEntropyKernel>& SoftmaxCrossEntropyKernels() {
  static KernelTable<SoftmaxCrossEntropyKernel> table("SoftmaxCrossEntropy");
  return table;
}

LossResult SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  internal::CheckLogits(logits, "SoftmaxCrossEntropy", "logits");
  internal::CheckLabelSmoothing(label_smoothing, "SoftmaxCrossEntropy");
  internal::CheckLabels(labels, logits, "SoftmaxCrossEntropy");
  const SoftmaxCrossEntropyKernel kernel = SoftmaxCrossEntropyKernels().Get(logits.device());
  LossResult result;
  result.grad = Tensor::Empty(logits.shape(), DType::kF32, logits.device());
  result.loss = kernel(logits, labels, label_smoothing, result.grad);
  return result;
}

}  // namespace millrace::ops
