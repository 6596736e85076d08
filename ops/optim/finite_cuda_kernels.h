// AllFinite's kernel on CUDA (finite_cuda.cu): raw pointers and a stream, no core headers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// Sets *flag to 1 when any of values[0..n) is NaN or +-Inf (leaves it alone otherwise).
void LaunchFlagNonFinite(const float* values, int64_t n, int* flag, cudaStream_t stream);

}  // namespace millrace::ops::cuda
