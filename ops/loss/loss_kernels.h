// The kernel tables of the losses in loss.h. The loss functions check their arguments once
// (dtypes, shapes, devices) and allocate `grad` (f32, the first argument's shape and device);
// the kernel registered for the inputs' device fills grad and returns the mean loss. A label
// out of range is found by the kernel (it reads the labels) and throws Error(kData).
// CPU kernels: cross_entropy_cpu.cc, mse_cpu.cc, distillation_cpu.cc; CUDA kernels: the
// <loss>_cuda.cc host glue beside them and its .cu (in a build with CUDA only). The CUDA kernels
// return the loss through one read-back (ops/cuda/readback.h): a host sync, as the loss is a
// host value.
#pragma once

#include "core/tensor.h"
#include "ops/kernel_table.h"
#include "ops/loss/loss.h"

namespace millrace::ops {

// logits [B, C] f32, labels [B] i64 or i32 -> grad [B, C].
using SoftmaxCrossEntropyKernel = double (*)(const Tensor& logits, const Tensor& labels,
                                             double label_smoothing, Tensor& grad);
// prediction, target: same shape, f32 -> grad, same shape.
using MseKernel = double (*)(const Tensor& prediction, const Tensor& target, Tensor& grad);
// student, teacher [B, C] f32, labels [B] -> grad [B, C] (with respect to student).
using DistillationKernel = double (*)(const Tensor& student, const Tensor& teacher,
                                      const Tensor& labels, const DistillationOptions& options,
                                      Tensor& grad);

KernelTable<SoftmaxCrossEntropyKernel>& SoftmaxCrossEntropyKernels();
// logits, labels as above -> grad, and `terms` (f64, on the logits' device) as DeferredLoss
// describes; returns the divisor. Reads nothing back.
using SoftmaxCrossEntropyDeferredKernel = int64_t (*)(const Tensor& logits, const Tensor& labels,
                                                      double label_smoothing, Tensor& grad,
                                                      Tensor& terms);
KernelTable<SoftmaxCrossEntropyDeferredKernel>& SoftmaxCrossEntropyDeferredKernels();
KernelTable<MseKernel>& MseKernels();
KernelTable<DistillationKernel>& DistillationKernels();

namespace cpu {
double SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                           Tensor& grad);
int64_t SoftmaxCrossEntropyDeferred(const Tensor& logits, const Tensor& labels,
                                    double label_smoothing, Tensor& grad, Tensor& terms);
double Mse(const Tensor& prediction, const Tensor& target, Tensor& grad);
double Distillation(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                    const DistillationOptions& options, Tensor& grad);
// labels[b] of an i64 or i32 CPU tensor.
int64_t Label(const Tensor& labels, int64_t b);
// Throws Error(kData) naming `op` and the batch index for a label outside [0, classes).
void CheckLabelRange(const Tensor& labels, int64_t classes, const char* op);
}  // namespace cpu

namespace cuda {
double SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                           Tensor& grad);
int64_t SoftmaxCrossEntropyDeferred(const Tensor& logits, const Tensor& labels,
                                    double label_smoothing, Tensor& grad, Tensor& terms);
double Mse(const Tensor& prediction, const Tensor& target, Tensor& grad);
double Distillation(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                    const DistillationOptions& options, Tensor& grad);
// The row kernels report the first row whose label is outside [0, classes) (~0 for none): this
// throws cpu::CheckLabelRange's Error(kData) for it, reading that one label back.
void ThrowIfBadLabel(const Tensor& labels, unsigned long long first_bad, int64_t classes,
                     const char* op);
}  // namespace cuda

}  // namespace millrace::ops
