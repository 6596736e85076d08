// Softmax cross-entropy on CUDA: one warp per row, the formulas of cross_entropy_cpu.cc in the
// same order per element (the row maximum in f32, exp in f32, the sums in double). The sums
// are reduced across the warp's lanes, so their order (not their precision) differs from the
// CPU's.   logits: [B, C]   labels: [B]   grad: [B, C]   row_loss: [B]
#include <cmath>

#include "ops/cuda/reduce.cuh"
#include "ops/loss/loss_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kCrossEntropyRowsPerBlock = 8;  // warps of 32: 256 threads

template <typename Label>
__global__ void SoftmaxCrossEntropyKernel(const float* logits, const Label* labels, int64_t batch,
                                          int64_t classes, double smoothing, float inv_batch,
                                          float spread, float hit, float* grad, double* row_loss,
                                          unsigned long long* first_bad) {
  const int64_t row =
      static_cast<int64_t>(blockIdx.x) * kCrossEntropyRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (row >= batch) return;  // the whole warp: row is uniform across it
  const int64_t label = static_cast<int64_t>(labels[row]);
  if (label < 0 || label >= classes) {
    if (lane == 0) atomicMin(first_bad, static_cast<unsigned long long>(row));
    return;
  }
  const float* z = logits + row * classes;
  float* g = grad + row * classes;
  float max = -INFINITY;
  for (int64_t c = lane; c < classes; c += kWarpSize) max = fmaxf(max, z[c]);
  max = WarpMax(max);
  // softmax = exp(z - max) / sum; loss = log(sum) - (z[label] - max).
  double sum = 0;
  for (int64_t c = lane; c < classes; c += kWarpSize) {
    const float e = expf(z[c] - max);
    g[c] = e;
    sum += e;
  }
  sum = WarpSum(sum);
  const float scale = static_cast<float>(1.0 / sum) * inv_batch;
  // With smoothing, q = (1 - e) * onehot + e / C: every class loses `spread`, the label `hit`.
  double mean_z = 0;
  for (int64_t c = lane; c < classes; c += kWarpSize) {
    float v = __fmul_rn(g[c], scale);  // not fused with the subtraction: the CPU's bits
    if (smoothing != 0) {
      v -= spread;
      mean_z += static_cast<double>(z[c]) - max;
    }
    if (c == label) v -= smoothing == 0 ? inv_batch : hit;
    g[c] = v;
  }
  mean_z = WarpSum(mean_z);
  if (lane != 0) return;
  const double z_label = static_cast<double>(z[label]) - max;
  row_loss[row] = smoothing == 0 ? log(sum) - z_label
                                 : log(sum) - (1 - smoothing) * z_label -
                                       smoothing * (mean_z / static_cast<double>(classes));
}

}  // namespace

void LaunchSoftmaxCrossEntropy(const float* logits, const int64_t* labels64,
                               const int32_t* labels32, int64_t batch, int64_t classes,
                               double smoothing, float inv_batch, float spread, float hit,
                               float* grad, double* row_loss, unsigned long long* first_bad,
                               cudaStream_t stream) {
  const auto blocks =
      static_cast<unsigned>((batch + kCrossEntropyRowsPerBlock - 1) / kCrossEntropyRowsPerBlock);
  const unsigned threads = kCrossEntropyRowsPerBlock * kWarpSize;
  if (labels64 != nullptr) {
    SoftmaxCrossEntropyKernel<<<blocks, threads, 0, stream>>>(logits, labels64, batch, classes,
                                                              smoothing, inv_batch, spread, hit,
                                                              grad, row_loss, first_bad);
  } else {
    SoftmaxCrossEntropyKernel<<<blocks, threads, 0, stream>>>(logits, labels32, batch, classes,
                                                              smoothing, inv_batch, spread, hit,
                                                              grad, row_loss, first_bad);
  }
}

}  // namespace millrace::ops::cuda
