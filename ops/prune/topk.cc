#include "ops/prune/topk.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"

namespace millrace::ops::internal {

std::vector<int64_t> TorchTopK(std::span<const float> values, int64_t k, bool largest) {
  const auto n = static_cast<int64_t>(values.size());
  MILLRACE_CHECK_ARG(k >= 0 && k <= n, "top-k: k = " << k << " of " << n << " values");
  if (k == 0) return {};
  using Elem = std::pair<double, int64_t>;
  std::vector<Elem> queue(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) queue[j] = {static_cast<double>(values[j]), j};
  // The comparators of TopKImpl.h: NaN sorts as the largest value.
  auto greater = [](const Elem& x, const Elem& y) {
    return (std::isnan(x.first) && !std::isnan(y.first)) || x.first > y.first;
  };
  auto less = [](const Elem& x, const Elem& y) {
    return (!std::isnan(x.first) && std::isnan(y.first)) || x.first < y.first;
  };
  if (k * 64 <= n) {
    if (largest) {
      std::partial_sort(queue.begin(), queue.begin() + k, queue.end(), greater);
    } else {
      std::partial_sort(queue.begin(), queue.begin() + k, queue.end(), less);
    }
  } else {
    if (largest) {
      std::nth_element(queue.begin(), queue.begin() + k - 1, queue.end(), greater);
    } else {
      std::nth_element(queue.begin(), queue.begin() + k - 1, queue.end(), less);
    }
  }
  std::vector<int64_t> indices(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) indices[j] = queue[j].second;
  return indices;
}

}  // namespace millrace::ops::internal
