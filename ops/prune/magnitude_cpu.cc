// The global L1 selection on the CPU: the unpruned entries' |w| in flat order (L1Scores), ranked
// by TorchTopK (torch's CPU topk, ties included), the selected entries' mask set to 0.
#include <algorithm>

#include "ops/prune/ranking.h"
#include "ops/prune/topk.h"

namespace millrace::ops::cpu {

void L1Prune(const std::vector<Parameter*>& parameters, const PruneAmount& amount,
             const std::string& what) {
  // The unpruned entries, parameter by parameter in flat order (torch's parameters_to_vector
  // followed by t[mask == 1]).
  std::vector<float> scores;
  std::vector<int64_t> index;  // flat index in its parameter, per score
  std::vector<size_t> first;   // first score of each parameter
  for (Parameter* p : parameters) {
    first.push_back(scores.size());
    L1Scores(p->value, p->mask, scores, index);
  }
  const int64_t k = amount.Resolve(static_cast<int64_t>(scores.size()), what);
  for (int64_t j : internal::TorchTopK(scores, k, /*largest=*/false)) {
    const size_t owner =
        std::upper_bound(first.begin(), first.end(), static_cast<size_t>(j)) - first.begin() - 1;
    parameters[owner]->mask.data<float>()[index[j]] = 0.0f;
  }
}

}  // namespace millrace::ops::cpu
