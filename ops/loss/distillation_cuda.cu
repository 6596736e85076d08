// Distillation loss on CUDA: one warp per row, the three log-softmaxes of distillation_cpu.cc
// in double (the row maxima of f32 values, exp and log in double), reduced across the warp's
// lanes.   student, teacher: [B, C]   labels: [B]   grad: [B, C]   row_kl, row_ce: [B]
#include <cmath>

#include "ops/cuda/reduce.cuh"
#include "ops/loss/loss_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kDistillationRowsPerBlock = 8;  // warps of 32: 256 threads

template <typename Label>
__global__ void DistillationKernel(const float* student, const float* teacher, const Label* labels,
                                   int64_t batch, int64_t classes, double alpha, double t,
                                   double smooth, float* grad, double* row_kl, double* row_ce,
                                   unsigned long long* first_bad) {
  const int64_t row =
      static_cast<int64_t>(blockIdx.x) * kDistillationRowsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (row >= batch) return;  // the whole warp
  const int64_t label = static_cast<int64_t>(labels[row]);
  if (label < 0 || label >= classes) {
    if (lane == 0) atomicMin(first_bad, static_cast<unsigned long long>(row));
    return;
  }
  const float* zs = student + row * classes;
  const float* zt = teacher + row * classes;
  float* g = grad + row * classes;
  float max_s = -INFINITY, max_t = -INFINITY;
  for (int64_t c = lane; c < classes; c += kWarpSize) {
    max_s = fmaxf(max_s, zs[c]);
    max_t = fmaxf(max_t, zt[c]);
  }
  const double ms = WarpMax(max_s), mt = WarpMax(max_t);
  // log_softmax(z / T)[c] = (z[c] - max) / T - log(sum_c exp((z[c] - max) / T)).
  double sum_s_t = 0, sum_t_t = 0, sum_s = 0;
  for (int64_t c = lane; c < classes; c += kWarpSize) {
    sum_s_t += exp((zs[c] - ms) / t);
    sum_t_t += exp((zt[c] - mt) / t);
    sum_s += exp((zs[c] - ms) / 1.0);
  }
  const double lse_s_t = log(WarpSum(sum_s_t)), lse_t_t = log(WarpSum(sum_t_t)),
               lse_s = log(WarpSum(sum_s));
  const double inv_batch = 1.0 / static_cast<double>(batch);
  const double spread = smooth / static_cast<double>(classes);
  double kl = 0, ce = 0;
  for (int64_t c = lane; c < classes; c += kWarpSize) {
    const double log_ps_t = (zs[c] - ms) / t - lse_s_t;
    const double log_pt_t = (zt[c] - mt) / t - lse_t_t;
    const double log_ps = (zs[c] - ms) / 1.0 - lse_s;
    const double pt = exp(log_pt_t), ps_t = exp(log_ps_t), ps = exp(log_ps);
    if (pt > 0) kl += pt * (log_pt_t - log_ps_t);  // 0 * log 0 = 0
    const double q = (c == label ? 1.0 - smooth : 0.0) + spread;
    g[c] = static_cast<float>((alpha * t * (ps_t - pt) + (1 - alpha) * (ps - q)) * inv_batch);
    if (smooth > 0) ce -= spread * log_ps;
  }
  kl = WarpSum(kl);
  ce = WarpSum(ce);
  if (lane != 0) return;
  row_kl[row] = kl;
  row_ce[row] = ce - (1 - smooth) * ((zs[label] - ms) / 1.0 - lse_s);
}

}  // namespace

void LaunchDistillation(const float* student, const float* teacher, const int64_t* labels64,
                        const int32_t* labels32, int64_t batch, int64_t classes, double alpha,
                        double temperature, double smoothing, float* grad, double* row_kl,
                        double* row_ce, unsigned long long* first_bad, cudaStream_t stream) {
  const auto blocks =
      static_cast<unsigned>((batch + kDistillationRowsPerBlock - 1) / kDistillationRowsPerBlock);
  const unsigned threads = kDistillationRowsPerBlock * kWarpSize;
  if (labels64 != nullptr) {
    DistillationKernel<<<blocks, threads, 0, stream>>>(student, teacher, labels64, batch, classes,
                                                       alpha, temperature, smoothing, grad, row_kl,
                                                       row_ce, first_bad);
  } else {
    DistillationKernel<<<blocks, threads, 0, stream>>>(student, teacher, labels32, batch, classes,
                                                       alpha, temperature, smoothing, grad, row_kl,
                                                       row_ce, first_bad);
  }
}

}  // namespace millrace::ops::cuda
