// Distillation loss on CUDA: host glue. One kernel (distillation_cuda.cu) writes the gradient
// and each row's KL and cross-entropy; one read-back brings them to the host, where they are
// added in row order and combined as distillation_cpu.cc combines them.
//   student, teacher: [B, C]   labels: [B]   grad: [B, C]
#include <cstring>

#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/loss/loss_cuda_kernels.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops::cuda {

double Distillation(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                    const DistillationOptions& options, Tensor& grad) {
  const Device device = student.device();
  const int64_t batch = student.dim(0);
  const int64_t classes = student.dim(1);
  cudaStream_t stream = Stream(device);
  // Scratch: the rows' KL, the rows' cross-entropy, then the first bad row.
  const size_t bytes = static_cast<size_t>(2 * batch + 1) * sizeof(double);
  const std::shared_ptr<Storage> scratch = Storage::Allocate(bytes, device);
  auto* row_kl = static_cast<double*>(scratch->data());
  double* row_ce = row_kl + batch;
  auto* first_bad = reinterpret_cast<unsigned long long*>(row_ce + batch);
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(*first_bad), stream));
  const bool i64 = labels.dtype() == DType::kI64;
  LaunchDistillation(static_cast<const float*>(student.raw_data()),
                     static_cast<const float*>(teacher.raw_data()),
                     i64 ? static_cast<const int64_t*>(labels.raw_data()) : nullptr,
                     i64 ? nullptr : static_cast<const int32_t*>(labels.raw_data()), batch, classes,
                     options.alpha, options.temperature, options.label_smoothing,
                     static_cast<float*>(grad.raw_data()), row_kl, row_ce, first_bad, stream);
  MILLRACE_CUDA_LAUNCH_CHECK("Distillation");
  const auto* host = static_cast<const double*>(ReadBack(device, row_kl, bytes));
  unsigned long long bad = 0;
  std::memcpy(&bad, host + 2 * batch, sizeof(bad));
  ThrowIfBadLabel(labels, bad, classes, "DistillationLoss");
  double kl_total = 0, ce_total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    kl_total += host[b];
    ce_total += host[batch + b];
  }
  const double alpha = options.alpha, t = options.temperature;
  const double inv_batch = 1.0 / static_cast<double>(batch);
  return (alpha * t * t * kl_total + (1 - alpha) * ce_total) * inv_batch;
}

}  // namespace millrace::ops::cuda
