// AllFinite on CUDA: one flag in device memory, cleared, set by a kernel per tensor, read back
// once through ReadBack (the one host wait of the check).
#include <cstring>

#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/optim/finite.h"
#include "ops/optim/finite_cuda_kernels.h"

namespace millrace::ops::cuda {

bool AllFinite(std::span<const Tensor* const> tensors) {
  const Device device = tensors.front()->device();
  cudaStream_t stream = Stream(device);
  thread_local Tensor flag;  // the thread's device flag, kept from call to call
  int result = 0;
  if (!flag.defined() || flag.device() != device) flag = Tensor::Empty({1}, DType::kI32, device);
  int* d_flag = static_cast<int*>(flag.raw_data());
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(d_flag, 0, sizeof(int), stream));
  for (const Tensor* t : tensors) {
    if (t->numel() == 0) continue;
    LaunchFlagNonFinite(static_cast<const float*>(t->raw_data()), t->numel(), d_flag, stream);
    MILLRACE_CUDA_LAUNCH_CHECK("FlagNonFinite");
  }
  std::memcpy(&result, ReadBack(device, d_flag, sizeof(int)), sizeof(int));
  return result == 0;
}

}  // namespace millrace::ops::cuda
