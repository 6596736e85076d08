#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

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

KernelTable<SoftmaxCrossEntropyDeferredKernel>& SoftmaxCrossEntropyDeferredKernels() {
  static KernelTable<SoftmaxCrossEntropyDeferredKernel> table("SoftmaxCrossEntropyDeferred");
  return table;
}

DeferredLossResult SoftmaxCrossEntropyDeferred(const Tensor& logits, const Tensor& labels,
                                               double label_smoothing) {
  internal::CheckLogits(logits, "SoftmaxCrossEntropy", "logits");
  internal::CheckLabelSmoothing(label_smoothing, "SoftmaxCrossEntropy");
  internal::CheckLabels(labels, logits, "SoftmaxCrossEntropy");
  const SoftmaxCrossEntropyDeferredKernel kernel =
      SoftmaxCrossEntropyDeferredKernels().Get(logits.device(), "SoftmaxCrossEntropy");
  DeferredLossResult result;
  result.grad = Tensor::Empty(logits.shape(), DType::kF32, logits.device());
  result.loss.divisor = kernel(logits, labels, label_smoothing, result.grad, result.loss.terms);
  result.loss.classes = logits.dim(1);
  return result;
}

double ReadDeferredLoss(const DeferredLoss& loss, const Tensor& labels) {
  MILLRACE_CHECK_ARG(loss.defined() && loss.terms.dtype() == DType::kF64 &&
                         loss.terms.numel() >= 2 && loss.divisor > 0,
                     "ReadDeferredLoss: not a deferred loss");
  const Tensor host = loss.terms.To(Device::Cpu());
  const double* terms = host.data<double>();
  const int64_t n = host.numel() - 1;
  uint64_t first_bad = 0;
  std::memcpy(&first_bad, terms + n, sizeof first_bad);
  if (first_bad != ~uint64_t{0}) {
    const auto b = static_cast<int64_t>(first_bad);
    const Tensor label = labels.Slice(b, b + 1).To(Device::Cpu());  // the error path only
    MILLRACE_THROW(ErrorKind::kData, "SoftmaxCrossEntropy: label at batch index "
                                         << b << " is " << cpu::Label(label, 0) << ", outside [0, "
                                         << loss.classes << ")");
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += terms[i];
  return total / static_cast<double>(loss.divisor);
}

}  // namespace millrace::ops
