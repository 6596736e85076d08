// ClassificationCounts: checks and backend dispatch.
#include "ops/metrics/classification.h"

#include "core/error.h"

namespace millrace::ops {

KernelTable<ClassificationCountsKernel>& ClassificationCountsKernels() {
  static KernelTable<ClassificationCountsKernel> table("ClassificationCounts");
  return table;
}

void ClassificationCounts(const Tensor& logits, const Tensor& labels,
                          const ClassificationTotals& totals) {
  MILLRACE_CHECK_ARG(logits.defined() && labels.defined(), "metrics: undefined logits or labels");
  MILLRACE_CHECK_ARG(logits.device() == labels.device(),
                     "metrics: logits on " << logits.device().ToString() << ", labels on "
                                           << labels.device().ToString());
  MILLRACE_CHECK_ARG(logits.dtype() == DType::kF32,
                     "metrics: logits must be f32, got " << ToString(logits.dtype()));
  MILLRACE_CHECK_ARG(logits.ndim() == 2,
                     "metrics: logits must be [N, C], got " << ToString(logits.shape()));
  const int64_t c = logits.dim(1);
  MILLRACE_CHECK_ARG(static_cast<int64_t>(totals.confusion.size()) == c * c,
                     "metrics: a confusion matrix of " << totals.confusion.size() << " counts for "
                                                       << c << " classes");
  MILLRACE_CHECK_ARG(labels.dtype() == DType::kI64 || labels.dtype() == DType::kI32,
                     "metrics: labels must be i32 or i64, got " << ToString(labels.dtype()));
  MILLRACE_CHECK_ARG(labels.numel() == logits.dim(0), "metrics: " << logits.dim(0)
                                                                  << " rows of logits but "
                                                                  << labels.numel() << " labels");
  ClassificationCountsKernels().Get(logits.device())(logits, labels, totals);
}

}  // namespace millrace::ops
