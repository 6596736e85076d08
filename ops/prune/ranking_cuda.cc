// Pruning scores on CUDA: host glue (kernels in ranking_cuda.cu). The scores are host vectors
// (the ranking that consumes them, magnitude.cc, runs TorchTopK on the host for torch's tie
// rule), so each call ends in read-backs (ops/cuda/readback.h): host syncs by contract.
#include <cmath>
#include <cstring>

#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/prune/prune_cuda_kernels.h"
#include "ops/prune/ranking.h"

namespace millrace::ops::cuda {

void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index) {
  const int64_t n = value.numel();
  if (n == 0) return;
  const Device device = value.device();
  cudaStream_t stream = Stream(device);
  const auto* w = static_cast<const float*>(value.raw_data());
  const size_t old = scores.size();
  if (!mask.defined()) {  // every entry, in flat order
    const std::shared_ptr<Storage> out = Storage::Allocate(n * sizeof(float), device);
    LaunchAbs(w, n, static_cast<float*>(out->data()), stream);
    MILLRACE_CUDA_LAUNCH_CHECK("L1Scores");
    const auto* host = static_cast<const float*>(ReadBack(device, out->data(), n * sizeof(float)));
    scores.insert(scores.end(), host, host + n);
    index.resize(old + n);
    for (int64_t i = 0; i < n; ++i) index[old + i] = i;
    return;
  }
  // The unmasked entries: indices (i64), then scores (f32), then the count, in one block.
  const std::shared_ptr<Storage> out =
      Storage::Allocate(n * (sizeof(int64_t) + sizeof(float)) + sizeof(int64_t), device);
  auto* selected = static_cast<int64_t*>(out->data());
  auto* count = selected + n;
  auto* selected_scores = reinterpret_cast<float*>(count + 1);
  const auto* m = static_cast<const float*>(mask.raw_data());
  size_t temp_bytes = 0;
  MILLRACE_CUDA_CHECK(LaunchSelectUnmasked(w, m, n, 0, selected, selected_scores, count, nullptr,
                                           &temp_bytes, stream));
  void* temp = Workspace(device, temp_bytes);
  MILLRACE_CUDA_CHECK(LaunchSelectUnmasked(w, m, n, 0, selected, selected_scores, count, temp,
                                           &temp_bytes, stream));
  MILLRACE_CUDA_LAUNCH_CHECK("L1Scores");
  int64_t kept = 0;
  std::memcpy(&kept, ReadBack(device, count, sizeof(kept)), sizeof(kept));
  if (kept == 0) return;
  const auto* host_index =
      static_cast<const int64_t*>(ReadBack(device, selected, kept * sizeof(int64_t)));
  index.insert(index.end(), host_index, host_index + kept);
  const auto* host_scores =
      static_cast<const float*>(ReadBack(device, selected_scores, kept * sizeof(float)));
  scores.insert(scores.end(), host_scores, host_scores + kept);
}

void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms) {
  const int64_t channels = value.dim(0);
  if (channels == 0) return;
  const int64_t per_channel = value.numel() / channels;
  const Device device = value.device();
  const size_t bytes = static_cast<size_t>(2 * channels) * sizeof(double);
  const std::shared_ptr<Storage> out = Storage::Allocate(bytes, device);
  LaunchChannelSquares(static_cast<const float*>(value.raw_data()),
                       mask.defined() ? static_cast<const float*>(mask.raw_data()) : nullptr,
                       channels, per_channel, static_cast<double*>(out->data()), Stream(device));
  MILLRACE_CUDA_LAUNCH_CHECK("ChannelL2Norms");
  const auto* host = static_cast<const double*>(ReadBack(device, out->data(), bytes));
  for (int64_t c = 0; c < channels; ++c) {
    if (host[2 * c + 1] == 0.0) continue;
    alive.push_back(c);
    norms.push_back(static_cast<float>(std::sqrt(host[2 * c])));
  }
}

}  // namespace millrace::ops::cuda
