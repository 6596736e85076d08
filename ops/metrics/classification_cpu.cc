// Classification counts on the CPU: one pass per row of logits [N, C].
#include <cmath>

#include "core/error.h"
#include "ops/metrics/classification.h"

namespace millrace::ops::cpu {

void ClassificationCounts(const Tensor& logits, const Tensor& labels,
                          const ClassificationTotals& totals) {
  const int64_t n = logits.dim(0);
  const int64_t c = logits.dim(1);
  const float* z = logits.data<float>();
  const int64_t* labels64 = labels.dtype() == DType::kI64 ? labels.data<int64_t>() : nullptr;
  const int32_t* labels32 = labels.dtype() == DType::kI32 ? labels.data<int32_t>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z + i * c;
    const int64_t truth = labels64 != nullptr ? labels64[i] : labels32[i];
    MILLRACE_CHECK(truth >= 0 && truth < c, ErrorKind::kData,
                   "metrics: label " << truth << " out of range [0, " << c << ") at row " << i);
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j) {
      if (row[j] > row[best]) best = j;
    }
    // Cross-entropy: log(sum exp(z - max)) - (z_truth - max).
    const double max = row[best];
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
    *totals.loss_sum += std::log(sum) - (static_cast<double>(row[truth]) - max);
    ++totals.confusion[static_cast<size_t>(truth * c + best)];
    *totals.correct += best == truth;
  }
}

}  // namespace millrace::ops::cpu
