// Losses with their gradients, fused: each returns the loss value and the gradient with respect
// to its first argument in one pass.
//
//   LossResult r = SoftmaxCrossEntropy(logits, labels);  // logits f32 [B, C], labels i64 [B]
//   model.Backward(r.grad);                              // r.grad: d loss / d logits, [B, C]
//
// Every loss is a mean over the batch (reduction "mean" in PyTorch's words), so r.grad already
// carries the 1/B. Each function checks its arguments, then runs the kernel registered for the
// inputs' device (loss_kernels.h: the CPU backend, and CUDA in a build with it, where reading
// the loss back is a host sync). All inputs must be on one device; r.grad is on it too. Pure
// functions: thread-safe for distinct outputs.
#pragma once

#include "core/tensor.h"

namespace millrace::ops {

struct LossResult {
  double loss = 0;  // the mean loss over the batch
  Tensor grad;      // d loss / d (first argument), same shape, f32
};

// Mean squared error over all elements: mean((prediction - target)^2), like
// torch.nn.functional.mse_loss. prediction, target: f32 of the same shape.
LossResult MseLoss(const Tensor& prediction, const Tensor& target);

// Softmax cross-entropy, fused and numerically stable (log-sum-exp with the row maximum
// subtracted): mean over b of (logsumexp(logits[b]) - logits[b, labels[b]]).
// logits: f32 [B, C]; labels: i64 (or i32) [B] in [0, C). A label out of range throws
// Error(kData) naming the batch index and the value. grad = (softmax(logits) - onehot) / B.
//
// With label_smoothing = e in [0, 1) the target is q = (1 - e) * onehot + e / C, as in
// torch.nn.CrossEntropyLoss(label_smoothing=e): loss = mean over b of
// (logsumexp(logits[b]) - sum_c q[c] * logits[b, c]), grad = (softmax(logits) - q) / B.
LossResult SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels,
                               double label_smoothing = 0.0);

// The same loss left where it was computed, so that the caller need not wait for it: on a GPU
// the kernels are queued and nothing is read back (a training step that does this can be
// captured as a CUDA Graph). `terms` holds f64 values whose sum divided by `divisor` is the
// loss (each row's loss on CUDA, the mean on the CPU) and, as the bits of its last element, the
// batch index of the first label outside [0, C) (all bits set when none).
struct DeferredLoss {
  Tensor terms;
  int64_t divisor = 0;
  int64_t classes = 0;  // C, for the message about a bad label
  bool defined() const { return terms.defined(); }
};
struct DeferredLossResult {
  DeferredLoss loss;
  Tensor grad;  // as SoftmaxCrossEntropy's
};
DeferredLossResult SoftmaxCrossEntropyDeferred(const Tensor& logits, const Tensor& labels,
                                               double label_smoothing = 0.0);
// The mean loss (one copy to the host, which waits for the loss kernel): the terms added in
// order, divided by the divisor, so equal to SoftmaxCrossEntropy's to the bit on the same
// device. A bad label throws SoftmaxCrossEntropy's Error(kData) naming the batch index.
double ReadDeferredLoss(const DeferredLoss& loss, const Tensor& labels);

// Knowledge distillation (Hinton, Vinyals & Dean, 2015):
//   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student,
//   labels)
// with the KL summed over classes and averaged over the batch (torch's kl_div "batchmean").
// student, teacher: f32 [B, C]; labels: i64 [B]. The gradient is with respect to the student's
// logits only (the teacher is frozen):
//   grad = alpha * T * (softmax(student/T) - softmax(teacher/T)) / B
//        + (1 - alpha) * (softmax(student) - onehot(labels)) / B.
// alpha in [0, 1], temperature > 0. label_smoothing smooths the labels' term as in
// SoftmaxCrossEntropy (onehot becomes (1 - e) * onehot + e / C); 0 by default.
struct DistillationOptions {
  double alpha = 0.5;
  double temperature = 4.0;
  double label_smoothing = 0.0;
};
LossResult DistillationLoss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                            const DistillationOptions& options);

namespace internal {
// Checks shared by the losses: an f32 tensor of rank 2, and labels (i64 or i32) of matching
// batch size on the logits' device (the kernels check each label's range). `op` names the
// caller in the error.
void CheckLogits(const Tensor& logits, const char* op, const char* what);
void CheckLabels(const Tensor& labels, const Tensor& logits, const char* op);
void CheckLabelSmoothing(double label_smoothing, const char* op);  // in [0, 1)
}  // namespace internal

}  // namespace millrace::ops
