// The optimizers' fused update on CUDA (update_cuda.cu): one launch over every parameter of a
// step, a multi-tensor apply. The host glue (update_cuda.cc) keeps the tables below in device
// memory: which tensors (pointers and sizes) and which chunk of which tensor each block takes
// are uploaded when the parameter set changes; the per-tensor scalars (lr, the bias
// corrections, ...) are copied in before every launch, so a captured CUDA Graph reads the values
// of the step it replays (update.h, namespace cuda). Shared by the C++20 glue and the C++17 .cu:
// only <cuda_runtime.h> and <cstdint>.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// One parameter: w, grad and its optimizer state (SGD: state0 = momentum buffer or null;
// AdamW: state0 = m, state1 = v), mask null or w's pruning mask; n elements each.
struct UpdateTensor {
  float* w;
  float* grad;
  float* state0;
  float* state1;
  const float* mask;
  int64_t n;
};
// What one block updates: elements [begin, begin + kUpdateChunk) of tensor `tensor` (cut at n).
struct UpdateChunk {
  int64_t begin;
  int32_t tensor;
};
inline constexpr int64_t kUpdateChunk = 8192;

// SgdUpdateConfig's scalars (update.h), one per tensor.
struct SgdScalars {
  float lr, weight_decay, momentum, damp;
  int32_t nesterov, first_step;
};
// AdamWUpdateConfig's scalars (update.h), one per tensor.
struct AdamWScalars {
  float decay, beta1, beta2, step_size, inv_sqrt_c2, eps;
};

// One launch of `chunks` blocks; every pointer is device memory.
void LaunchSgdUpdateAll(const UpdateTensor* tensors, const UpdateChunk* chunks,
                        const SgdScalars* scalars, int32_t num_chunks, cudaStream_t stream);
void LaunchAdamWUpdateAll(const UpdateTensor* tensors, const UpdateChunk* chunks,
                          const AdamWScalars* scalars, int32_t num_chunks, cudaStream_t stream);

}  // namespace millrace::ops::cuda
