// The masks' kernels on CUDA: host glue (kernels in mask_cuda.cu). CountZeros returns a host
// count: one read-back (ops/cuda/readback.h), a host sync by contract.
#include <cstring>

#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/prune/mask.h"
#include "ops/prune/prune_cuda_kernels.h"

namespace millrace::ops::cuda {

void MaskMultiply(Tensor& x, const Tensor& mask) {
  if (x.numel() == 0) return;
  LaunchMaskMultiply(static_cast<float*>(x.raw_data()), static_cast<const float*>(mask.raw_data()),
                     x.numel(), Stream(x.device()));
  MILLRACE_CUDA_LAUNCH_CHECK("MaskMultiply");
}

int64_t CountZeros(const Tensor& x) {
  if (x.numel() == 0) return 0;
  const Device device = x.device();
  cudaStream_t stream = Stream(device);
  const std::shared_ptr<Storage> scratch = Storage::Allocate(sizeof(unsigned long long), device);
  auto* zeros = static_cast<unsigned long long*>(scratch->data());
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(zeros, 0, sizeof(*zeros), stream));
  LaunchCountZeros(static_cast<const float*>(x.raw_data()), x.numel(), zeros, stream);
  MILLRACE_CUDA_LAUNCH_CHECK("CountZeros");
  unsigned long long count = 0;
  std::memcpy(&count, ReadBack(device, zeros, sizeof(count)), sizeof(count));
  return static_cast<int64_t>(count);
}

}  // namespace millrace::ops::cuda
