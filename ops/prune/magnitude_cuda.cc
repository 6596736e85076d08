// The global L1 selection on CUDA: host glue (kernels in ranking_cuda.cu, magnitude_cuda.cu).
//   1. Each parameter's unpruned entries (CUB DeviceSelect): positions first[t] + flat index and
//      |w|, packed parameter by parameter in flat order (one count read back per parameter).
//   2. k = amount.Resolve(count); CUB's radix sort of the (score, position) pairs.
//   3. The k-th and (k+1)-th smallest scores come back. When they differ (and are not NaN) the k
//      smallest entries are one set, the one TorchTopK selects too: the sorted positions'
//      first k. When they are equal, ties straddle the boundary and torch's choice among them
//      depends on its algorithm: the scores in flat order come back, TorchTopK (topk.h) runs on
//      the host as on the CPU, and its choice goes back. Either way the selection is the CPU's.
//   4. One kernel writes the selected entries' zeros into their parameters' masks.
// Pruning runs once per pruning step, off the training step: its read-backs (host syncs) are
// by design. Scratch comes from the caching allocator and the thread's workspace.
#include <cmath>
#include <cstring>

#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/prune/prune_cuda_kernels.h"
#include "ops/prune/ranking.h"
#include "ops/prune/topk.h"

namespace millrace::ops::cuda {

void L1Prune(const std::vector<Parameter*>& parameters, const PruneAmount& amount,
             const std::string& what) {
  const Device device = parameters[0]->value.device();
  cudaStream_t stream = Stream(device);
  const auto count_of_parameters = static_cast<int32_t>(parameters.size());
  std::vector<int64_t> first(parameters.size() + 1, 0);  // positions of each parameter
  for (size_t t = 0; t < parameters.size(); ++t) {
    first[t + 1] = first[t] + parameters[t]->value.numel();
  }
  const int64_t entries = first.back();
  // Scratch: positions, sorted positions (i64), the count, scores, sorted scores (f32).
  const std::shared_ptr<Storage> scratch = Storage::Allocate(
      static_cast<size_t>(entries) * 2 * (sizeof(int64_t) + sizeof(float)) + sizeof(int64_t),
      device);
  auto* positions = static_cast<int64_t*>(scratch->data());
  int64_t* sorted_positions = positions + entries;
  int64_t* device_count = sorted_positions + entries;
  auto* scores = reinterpret_cast<float*>(device_count + 1);
  float* sorted_scores = scores + entries;

  // 1. The unpruned entries, packed.
  int64_t count = 0;
  for (size_t t = 0; t < parameters.size(); ++t) {
    const Parameter& p = *parameters[t];
    const int64_t n = p.value.numel();
    if (n == 0) continue;
    const auto* w = static_cast<const float*>(p.value.raw_data());
    const auto* m = static_cast<const float*>(p.mask.raw_data());
    size_t temp_bytes = 0;
    MILLRACE_CUDA_CHECK(LaunchSelectUnmasked(w, m, n, first[t], positions + count, scores + count,
                                             device_count, nullptr, &temp_bytes, stream));
    void* temp = Workspace(device, temp_bytes);
    MILLRACE_CUDA_CHECK(LaunchSelectUnmasked(w, m, n, first[t], positions + count, scores + count,
                                             device_count, temp, &temp_bytes, stream));
    MILLRACE_CUDA_LAUNCH_CHECK("L1Prune (select)");
    int64_t kept = 0;
    std::memcpy(&kept, ReadBack(device, device_count, sizeof(kept)), sizeof(kept));
    count += kept;
  }

  // 2. How many, and the sort.
  const int64_t k = amount.Resolve(count, what);
  if (k == 0) return;
  size_t temp_bytes = 0;
  MILLRACE_CUDA_CHECK(LaunchSortScores(scores, sorted_scores, positions, sorted_positions, count,
                                       nullptr, &temp_bytes, stream));
  void* temp = Workspace(device, temp_bytes);
  MILLRACE_CUDA_CHECK(LaunchSortScores(scores, sorted_scores, positions, sorted_positions, count,
                                       temp, &temp_bytes, stream));

  // 3. The boundary: scores k - 1 and k of the sorted ones.
  float boundary[2] = {0, 0};
  const int64_t read = k < count ? 2 : 1;
  std::memcpy(boundary, ReadBack(device, sorted_scores + k - 1, read * sizeof(float)),
              read * sizeof(float));
  const bool ties = std::isnan(boundary[0]) || (read == 2 && boundary[1] == boundary[0]);
  const int64_t* selected = sorted_positions;
  std::vector<int64_t> chosen;  // the host's choice among ties (kept until its copy is staged)
  if (ties) {
    std::vector<float> flat_scores(static_cast<size_t>(count));
    std::memcpy(flat_scores.data(), ReadBack(device, scores, count * sizeof(float)),
                count * sizeof(float));
    std::vector<int64_t> flat_positions(static_cast<size_t>(count));
    std::memcpy(flat_positions.data(), ReadBack(device, positions, count * sizeof(int64_t)),
                count * sizeof(int64_t));
    for (int64_t j : internal::TorchTopK(flat_scores, k, /*largest=*/false)) {
      chosen.push_back(flat_positions[j]);
    }
    // Over the sorted positions, which the kernel would otherwise read.
    MILLRACE_CUDA_CHECK(cudaMemcpyAsync(sorted_positions, chosen.data(), k * sizeof(int64_t),
                                        cudaMemcpyHostToDevice, stream));
  }

  // 4. The zeros. Tables: the masks' addresses and the parameters' first positions.
  std::vector<float*> masks;
  for (Parameter* p : parameters) masks.push_back(static_cast<float*>(p->mask.raw_data()));
  const size_t mask_bytes = masks.size() * sizeof(float*);
  const size_t first_bytes = first.size() * sizeof(int64_t);
  const std::shared_ptr<Storage> tables = Storage::Allocate(mask_bytes + first_bytes, device);
  auto* device_masks = static_cast<float**>(tables->data());
  auto* device_first = reinterpret_cast<int64_t*>(device_masks + masks.size());
  MILLRACE_CUDA_CHECK(
      cudaMemcpyAsync(device_masks, masks.data(), mask_bytes, cudaMemcpyHostToDevice, stream));
  MILLRACE_CUDA_CHECK(
      cudaMemcpyAsync(device_first, first.data(), first_bytes, cudaMemcpyHostToDevice, stream));
  LaunchZeroSelected(selected, k, device_masks, device_first, count_of_parameters, stream);
  MILLRACE_CUDA_LAUNCH_CHECK("L1Prune (zero)");
  // The host tables above are pageable: each copy was staged before cudaMemcpyAsync returned.
  // Wait for the zeros before the scratch goes back to the caching allocator (which another
  // thread's stream may take next) and before the masks are read on any other stream.
  Synchronize(device);
}

}  // namespace millrace::ops::cuda
