// Launcher of the classification counts' CUDA kernel (classification_cuda.cu), shared by the
// C++20 host glue (classification_cuda.cc) and the C++17 .cu: raw pointers, sizes, a stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// One thread per row of logits [n, c]: best[i] = the first index of the row's largest logit,
// loss[i] = log(sum exp(z - max)) - (z[label] - max) in double, the CPU loop's order,
// truth[i] = the row's label as i64. A label outside [0, c) leaves the row's best and loss
// unwritten and lowers *first_bad to its row (~0ull before).
// labels: i64 (labels64) or i32 (labels32), one non-null.
void LaunchClassificationRows(const float* logits, const int64_t* labels64, const int32_t* labels32,
                              int64_t n, int64_t c, int64_t* best, double* loss, int64_t* truth,
                              unsigned long long* first_bad, cudaStream_t stream);

}  // namespace millrace::ops::cuda
