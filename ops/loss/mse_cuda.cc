// Mean squared error on CUDA: host glue. One kernel (mse_cuda.cu) writes the gradient and each
// block's sum of squares; one read-back brings the blocks' sums to the host, added in block
// order.   prediction, target, grad: n elements
#include <algorithm>

#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/loss/loss_cuda_kernels.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops::cuda {

double Mse(const Tensor& prediction, const Tensor& target, Tensor& grad) {
  const Device device = prediction.device();
  const int64_t n = prediction.numel();
  const float scale = 2.0f / static_cast<float>(n);
  const int blocks = std::min(BlocksFor(n), MseMaxBlocks());
  const size_t bytes = static_cast<size_t>(blocks) * sizeof(double);
  const std::shared_ptr<Storage> scratch = Storage::Allocate(bytes, device);
  auto* block_sums = static_cast<double*>(scratch->data());
  LaunchMse(static_cast<const float*>(prediction.raw_data()),
            static_cast<const float*>(target.raw_data()), n, scale,
            static_cast<float*>(grad.raw_data()), block_sums, blocks, Stream(device));
  MILLRACE_CUDA_LAUNCH_CHECK("Mse");
  const auto* host = static_cast<const double*>(ReadBack(device, block_sums, bytes));
  double sum = 0;
  for (int j = 0; j < blocks; ++j) sum += host[j];
  return sum / static_cast<double>(n);
}

}  // namespace millrace::ops::cuda
