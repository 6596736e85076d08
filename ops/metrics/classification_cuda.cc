// Classification counts on CUDA: host glue (kernel in classification_cuda.cu). The counts go
// into host totals, so the rows' predictions and losses come back in one read-back
// (ops/cuda/readback.h, a host sync by contract) and are added in row order, as the CPU adds
// them; a bad label throws after the rows before it were counted, as on the CPU.
#include <cstring>

#include "core/error.h"
#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/metrics/classification.h"
#include "ops/metrics/classification_cuda_kernels.h"

namespace millrace::ops::cuda {

void ClassificationCounts(const Tensor& logits, const Tensor& labels,
                          const ClassificationTotals& totals) {
  const int64_t n = logits.dim(0);
  const int64_t c = logits.dim(1);
  if (n == 0) return;
  const Device device = logits.device();
  cudaStream_t stream = Stream(device);
  // Scratch: the rows' predictions (i64), losses (double) and labels (i64), then the first bad
  // row: 8 bytes each.
  const size_t bytes = static_cast<size_t>(3 * n + 1) * 8;
  const std::shared_ptr<Storage> scratch = Storage::Allocate(bytes, device);
  auto* best = static_cast<int64_t*>(scratch->data());
  auto* loss = reinterpret_cast<double*>(best + n);
  auto* truth = reinterpret_cast<int64_t*>(loss + n);
  auto* first_bad = reinterpret_cast<unsigned long long*>(truth + n);
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(*first_bad), stream));
  const bool i64 = labels.dtype() == DType::kI64;
  LaunchClassificationRows(static_cast<const float*>(logits.raw_data()),
                           i64 ? static_cast<const int64_t*>(labels.raw_data()) : nullptr,
                           i64 ? nullptr : static_cast<const int32_t*>(labels.raw_data()), n, c,
                           best, loss, truth, first_bad, stream);
  MILLRACE_CUDA_LAUNCH_CHECK("ClassificationCounts");
  const auto* host = static_cast<const unsigned char*>(ReadBack(device, best, bytes));
  unsigned long long bad = 0;
  std::memcpy(&bad, host + 3 * n * 8, sizeof(bad));
  const int64_t rows = bad == ~0ull ? n : static_cast<int64_t>(bad);
  auto slot = [&](int64_t array, int64_t i, auto value) {  // array 0: best, 1: loss, 2: truth
    std::memcpy(&value, host + (array * n + i) * 8, sizeof(value));
    return value;
  };
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t predicted = slot(0, i, int64_t{0});
    const int64_t label = slot(2, i, int64_t{0});
    *totals.loss_sum += slot(1, i, 0.0);
    ++totals.confusion[static_cast<size_t>(label * c + predicted)];
    *totals.correct += predicted == label;
  }
  MILLRACE_CHECK(rows == n, ErrorKind::kData,
                 "metrics: label " << slot(2, rows, int64_t{0}) << " out of range [0, " << c
                                   << ") at row " << rows);
}

}  // namespace millrace::ops::cuda
