// Softmax cross-entropy on CUDA: host glue. The constants are computed as cross_entropy_cpu.cc
// computes them; one kernel (cross_entropy_cuda.cu) writes the gradient and each row's loss, and
// one read-back brings the rows' losses and the bad-label report to the host, where they are
// added in row order.   logits: [B, C]   labels: [B]   grad: [B, C]
#include <cstring>

#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/cuda/readback.h"
#include "ops/loss/loss_cuda_kernels.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops::cuda {

void ThrowIfBadLabel(const Tensor& labels, unsigned long long first_bad, int64_t classes,
                     const char* op) {
  if (first_bad == ~0ull) return;
  const auto b = static_cast<int64_t>(first_bad);
  const Tensor label = labels.Slice(b, b + 1).To(Device::Cpu());  // the error path only
  MILLRACE_THROW(ErrorKind::kData, op << ": label at batch index " << b << " is "
                                      << cpu::Label(label, 0) << ", outside [0, " << classes
                                      << ")");
}

namespace {

// Queues the kernel: each row's loss into row_loss[0..B), the first bad row into
// *(row_loss + B) as bits (all set when none).
void QueueSoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                              Tensor& grad, double* row_loss) {
  const Device device = logits.device();
  const int64_t batch = logits.dim(0);
  const int64_t classes = logits.dim(1);
  const float inv_batch = 1.0f / static_cast<float>(batch);
  const float spread = static_cast<float>(label_smoothing / static_cast<double>(classes) /
                                          static_cast<double>(batch));
  const float hit = static_cast<float>((1 - label_smoothing) / static_cast<double>(batch));
  cudaStream_t stream = Stream(device);
  auto* first_bad = reinterpret_cast<unsigned long long*>(row_loss + batch);
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(*first_bad), stream));
  const bool i64 = labels.dtype() == DType::kI64;
  LaunchSoftmaxCrossEntropy(static_cast<const float*>(logits.raw_data()),
                            i64 ? static_cast<const int64_t*>(labels.raw_data()) : nullptr,
                            i64 ? nullptr : static_cast<const int32_t*>(labels.raw_data()), batch,
                            classes, label_smoothing, inv_batch, spread, hit,
                            static_cast<float*>(grad.raw_data()), row_loss, first_bad, stream);
  MILLRACE_CUDA_LAUNCH_CHECK("SoftmaxCrossEntropy");
}

}  // namespace

int64_t SoftmaxCrossEntropyDeferred(const Tensor& logits, const Tensor& labels,
                                    double label_smoothing, Tensor& grad, Tensor& terms) {
  const int64_t batch = logits.dim(0);
  terms = Tensor::Empty({batch + 1}, DType::kF64, logits.device());
  QueueSoftmaxCrossEntropy(logits, labels, label_smoothing, grad,
                           static_cast<double*>(terms.raw_data()));
  return batch;
}

double SoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                           Tensor& grad) {
  const Device device = logits.device();
  const int64_t batch = logits.dim(0);
  const int64_t classes = logits.dim(1);
  // Scratch: the rows' losses, then the first bad row (from the caching allocator).
  const size_t bytes = static_cast<size_t>(batch + 1) * sizeof(double);
  const std::shared_ptr<Storage> scratch = Storage::Allocate(bytes, device);
  auto* row_loss = static_cast<double*>(scratch->data());
  QueueSoftmaxCrossEntropy(logits, labels, label_smoothing, grad, row_loss);
  const auto* host = static_cast<const double*>(ReadBack(device, row_loss, bytes));
  unsigned long long bad = 0;
  std::memcpy(&bad, host + batch, sizeof(bad));
  ThrowIfBadLabel(labels, bad, classes, "SoftmaxCrossEntropy");
  double total = 0;
  for (int64_t b = 0; b < batch; ++b) total += host[b];
  return total / static_cast<double>(batch);
}

}  // namespace millrace::ops::cuda
