// Dropout on CUDA: host glue (the product in dropout_cuda.cu). The keep/drop draws come from the
// layer's Rng on the host, one per element in order, exactly as dropout_cpu.cc draws them: the
// same seed gives the same masks on the CPU and on a GPU (the parity test compares them), and a
// checkpoint of the Rng's engine resumes them on either. The scales are written into pinned
// memory and copied to the device with cudaMemcpyAsync; the staging is rewritten by the next
// Forward only once that copy has run (an event; the host waits only if it is a whole step
// ahead of the GPU). Not capturable in a CUDA Graph: the draws are host work (a Philox kernel
// would be, at the price of masks that differ from the CPU's).
#include "core/cuda/cuda_check.h"
#include "core/memory.h"
#include "ops/activation/activation_cuda_kernels.h"
#include "ops/activation/dropout.h"
#include "ops/cuda/context.h"

namespace millrace::ops {

struct Dropout::Cuda {
  std::shared_ptr<Storage> draws;  // pinned: the scales of the last train-mode Forward
  millrace::cuda::Event copied;    // recorded after the copy out of `draws`
  bool pending = false;
};

Tensor Dropout::ForwardCuda(const Tensor& x) {
  if (!cuda_) cuda_ = {new Cuda(), [](Cuda* state) { delete state; }};
  Cuda& state = *cuda_;
  const Device device = x.device();
  cudaStream_t stream = cuda::Stream(device);
  const int64_t n = x.numel();
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  if (state.pending) MILLRACE_CUDA_CHECK(cudaEventSynchronize(state.copied.get()));
  state.pending = false;
  if (!state.draws || state.draws->bytes() < bytes) {
    state.draws = Storage::Allocate(bytes, Device::Cpu(), HostMemory::kPinned);
  }
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p_));
  float* s = static_cast<float*>(state.draws->data());
  for (int64_t i = 0; i < n; ++i) s[i] = rng_.Uniform() >= p_ ? keep_scale : 0.f;
  scale_ = Tensor::Empty(x.shape(), DType::kF32, device);
  Tensor y = Tensor::Empty(x.shape(), DType::kF32, device);
  if (n == 0) return y;
  MILLRACE_CUDA_CHECK(cudaMemcpyAsync(scale_.raw_data(), s, bytes, cudaMemcpyHostToDevice, stream));
  if (!state.copied) state.copied = millrace::cuda::MakeEvent();
  MILLRACE_CUDA_CHECK(cudaEventRecord(state.copied.get(), stream));
  state.pending = true;
  cuda::LaunchScaleBy(static_cast<const float*>(x.raw_data()),
                      static_cast<const float*>(scale_.raw_data()),
                      static_cast<float*>(y.raw_data()), n, stream);
  MILLRACE_CUDA_LAUNCH_CHECK("DropoutForward");
  return y;
}

Tensor Dropout::BackwardCuda(const Tensor& dy) {
  Tensor dx = Tensor::Empty(dy.shape(), DType::kF32, dy.device());
  if (dy.numel() == 0) return dx;
  cuda::LaunchScaleBy(static_cast<const float*>(dy.raw_data()),
                      static_cast<const float*>(scale_.raw_data()),
                      static_cast<float*>(dx.raw_data()), dy.numel(), cuda::Stream(dy.device()));
  MILLRACE_CUDA_LAUNCH_CHECK("DropoutBackward");
  return dx;
}

}  // namespace millrace::ops
