// The classification metrics' counts of one batch, as a kernel behind the backend seam:
// pipelines/metrics.h (ClassificationMetrics) accumulates them. Checks once, then runs the
// kernel registered for the logits' device (classification_cpu.cc; classification_cuda.cc in a
// build with CUDA, which reads each row's prediction and loss back to add them into the totals).
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

// Counts of a batch, added into the caller's totals (host memory).
struct ClassificationTotals {
  std::span<int64_t> confusion;  // [C * C]: confusion[truth * C + predicted] += 1
  int64_t* correct;              // += rows whose prediction is the label
  double* loss_sum;              // += cross-entropy of each row, in row order, in double
};

// logits: f32 [N, C]; labels: i32 or i64 [N] on the logits' device, each in [0, C) (else
// Error(kData) naming the row). The prediction is the first index of the largest logit
// (torch.argmax); the loss is log(sum exp(z - max)) - (z[label] - max), in double.
void ClassificationCounts(const Tensor& logits, const Tensor& labels,
                          const ClassificationTotals& totals);

using ClassificationCountsKernel = void (*)(const Tensor& logits, const Tensor& labels,
                                            const ClassificationTotals& totals);
KernelTable<ClassificationCountsKernel>& ClassificationCountsKernels();

namespace cpu {
void ClassificationCounts(const Tensor& logits, const Tensor& labels,
                          const ClassificationTotals& totals);
}  // namespace cpu

namespace cuda {  // classification_cuda.cc, in a build with CUDA
void ClassificationCounts(const Tensor& logits, const Tensor& labels,
                          const ClassificationTotals& totals);
}  // namespace cuda

}  // namespace millrace::ops
