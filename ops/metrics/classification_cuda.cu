// Classification counts on CUDA: one thread per row of logits [N, C], the loop of
// classification_cpu.cc as it is (the argmax's first-largest rule, the sum of exp in double in
// class order), so each row's prediction and loss are the CPU's. The host glue adds the rows
// into the totals in row order.
#include <cmath>

#include "ops/metrics/classification_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kClassificationThreads = 128;

template <typename Label>
__global__ void ClassificationRowsKernel(const float* logits, const Label* labels, int64_t n,
                                         int64_t c, int64_t* best_out, double* loss_out,
                                         int64_t* truth_out, unsigned long long* first_bad) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t truth = static_cast<int64_t>(labels[i]);
  truth_out[i] = truth;
  if (truth < 0 || truth >= c) {
    atomicMin(first_bad, static_cast<unsigned long long>(i));
    return;
  }
  const float* row = logits + i * c;
  int64_t best = 0;
  for (int64_t j = 1; j < c; ++j) {
    if (row[j] > row[best]) best = j;
  }
  const double max = row[best];
  double sum = 0.0;
  for (int64_t j = 0; j < c; ++j) sum += exp(static_cast<double>(row[j]) - max);
  best_out[i] = best;
  loss_out[i] = log(sum) - (static_cast<double>(row[truth]) - max);
}

}  // namespace

void LaunchClassificationRows(const float* logits, const int64_t* labels64, const int32_t* labels32,
                              int64_t n, int64_t c, int64_t* best, double* loss, int64_t* truth,
                              unsigned long long* first_bad, cudaStream_t stream) {
  const auto blocks =
      static_cast<unsigned>((n + kClassificationThreads - 1) / kClassificationThreads);
  if (labels64 != nullptr) {
    ClassificationRowsKernel<<<blocks, kClassificationThreads, 0, stream>>>(
        logits, labels64, n, c, best, loss, truth, first_bad);
  } else {
    ClassificationRowsKernel<<<blocks, kClassificationThreads, 0, stream>>>(
        logits, labels32, n, c, best, loss, truth, first_bad);
  }
}

}  // namespace millrace::ops::cuda
