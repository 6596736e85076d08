#include "core/error.h"
#include "ops/loss/loss.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops {

KernelTable<DistillationKernel>& DistillationKernels() {
  static KernelTable<DistillationKernel> table("DistillationLoss");
  return table;
}

LossResult DistillationLoss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                            const DistillationOptions& options) {
  internal::CheckLogits(student, "DistillationLoss", "student logits");
  internal::CheckLogits(teacher, "DistillationLoss", "teacher logits");
  MILLRACE_CHECK_ARG(student.shape() == teacher.shape(),
                     "DistillationLoss: student logits "
                         << ToString(student.shape()) << " and teacher logits "
                         << ToString(teacher.shape()) << " differ in shape");
  MILLRACE_CHECK_ARG(options.alpha >= 0 && options.alpha <= 1,
                     "DistillationLoss: alpha must be in [0, 1], got " << options.alpha);
  MILLRACE_CHECK_ARG(options.temperature > 0,
                     "DistillationLoss: temperature must be > 0, got " << options.temperature);
  internal::CheckLabelSmoothing(options.label_smoothing, "DistillationLoss");
  internal::CheckLabels(labels, student, "DistillationLoss");
  MILLRACE_CHECK_ARG(teacher.device() == student.device(), "DistillationLoss: teacher logits on "
                                                               << teacher.device().ToString()
                                                               << ", student logits on "
                                                               << student.device().ToString());
  const DistillationKernel kernel = DistillationKernels().Get(student.device());
  LossResult result;
  result.grad = Tensor::Empty(student.shape(), DType::kF32, student.device());
  result.loss = kernel(student, teacher, labels, options, result.grad);
  return result;
}

}  // namespace millrace::ops
