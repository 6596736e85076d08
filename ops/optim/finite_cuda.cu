// AllFinite's kernel on CUDA: each thread ORs the non-finite test of its grid-stride elements
// and, only when it found one, writes the flag (no atomics: every writer writes 1).
#include "ops/optim/finite_cuda_kernels.h"

namespace millrace::ops::cuda {

namespace {

__global__ void FlagNonFinite(const float* __restrict__ values, int64_t n, int* flag) {
  bool bad = false;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    bad |= !isfinite(values[i]);
  }
  if (bad) *flag = 1;
}

}  // namespace

void LaunchFlagNonFinite(const float* values, int64_t n, int* flag, cudaStream_t stream) {
  constexpr int kThreads = 256;
  long long blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 4096) blocks = 4096;
  if (blocks < 1) blocks = 1;
  FlagNonFinite<<<static_cast<int>(blocks), kThreads, 0, stream>>>(values, n, flag);
}

}  // namespace millrace::ops::cuda
