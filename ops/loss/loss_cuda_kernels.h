// Launchers of the losses' CUDA kernels (cross_entropy_cuda.cu, mse_cuda.cu,
// distillation_cuda.cu): raw pointers, sizes and a stream, so that the C++20 host glue
// (<loss>_cuda.cc) and the C++17 .cu files share nothing but this header.
//
// Row kernels: one warp per row of [batch, classes]. A label outside [0, classes) leaves its
// row's gradient unwritten and sets *first_bad to the smallest such row (it must hold
// ~0ull before the launch); the host glue throws Error(kData) for it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// grad[b, c] = softmax(z[b])[c] * inv_batch - spread - (c == label ? hit : 0) (smoothing > 0),
// or softmax * inv_batch - (c == label ? inv_batch : 0) (smoothing == 0); row_loss[b] = the
// row's loss (not divided by the batch). labels: i64 (labels64) or i32 (labels32), one non-null.
void LaunchSoftmaxCrossEntropy(const float* logits, const int64_t* labels64,
                               const int32_t* labels32, int64_t batch, int64_t classes,
                               double smoothing, float inv_batch, float spread, float hit,
                               float* grad, double* row_loss, unsigned long long* first_bad,
                               cudaStream_t stream);

// grad[i] = scale * (p[i] - t[i]); block_sums[j] = block j's sum of (p - t)^2 in double.
// `blocks` blocks (at most MseMaxBlocks()).
void LaunchMse(const float* prediction, const float* target, int64_t n, float scale, float* grad,
               double* block_sums, int blocks, cudaStream_t stream);
int MseMaxBlocks();

// Per row: grad as DistillationLoss's formula (already divided by the batch), row_kl[b] = the
// row's KL(teacher_T || student_T), row_ce[b] = its (smoothed) cross-entropy.
void LaunchDistillation(const float* student, const float* teacher, const int64_t* labels64,
                        const int32_t* labels32, int64_t batch, int64_t classes, double alpha,
                        double temperature, double smoothing, float* grad, double* row_kl,
                        double* row_ce, unsigned long long* first_bad, cudaStream_t stream);

}  // namespace millrace::ops::cuda
