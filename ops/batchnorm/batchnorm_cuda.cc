// BatchNorm2d on CUDA: cuDNN's spatial batch normalization (CUDNN_BATCHNORM_SPATIAL: one mean
// and variance per channel over N, H, W; the legacy API, see ops/cuda/cudnn_descriptors.h) on
// plain NCHW tensors, descriptors cached per input shape.
//   training forward: cudnnBatchNormalizationForwardTraining with the batch's statistics. It
//     updates the running statistics itself with exponentialAverageFactor = momentum:
//       running = (1 - momentum) running + momentum batch_statistic,
//     the variance entering unbiased (m / (m - 1), m = N H W) as torch's does. cuDNN's header
//     does not say which variance it averages; torch's own cuDNN path passes its momentum the
//     same way (aten/src/ATen/native/cudnn/BatchNorm.cpp) and matches its CPU kernel, and
//     apache/mxnet#21111 measured cuDNN's moving variance to be the unbiased one. That is what
//     batchnorm_cpu.cc computes in double (here the update is f32: the same up to rounding);
//     the parity test checks running_var against m / (m - 1). It saves the batch mean and
//     1 / sqrt(var + eps) ("SaveInvVariance") for the backward (the CPU saves the variance
//     instead; neither leaves its backend).
//   inference forward: cudnnBatchNormalizationForwardInference with the running statistics.
//   backward: cudnnBatchNormalizationBackward: dx (beta 0), and dgamma, dbeta accumulated into
//     the Parameters' grads (betaParamDiff 1), as the CPU adds its scratch into them.
// Fused ReLU (FuseNext): cuDNN fuses it only in NHWC (cudnnBatchNormalizationForwardTrainingEx
// with CUDNN_BATCHNORM_OPS_BN_ACTIVATION), so on NCHW the forward applies it in place with an own
// kernel and keeps y; the backward masks dy with y > 0 first, the CPU's fuse_norm_relu mask.
// Nothing allocates or waits on the hot path once a shape has been seen (CUDA Graph capturable).
#include <cudnn.h>

#include <map>
#include <string>

#include "ops/batchnorm/batchnorm.h"
#include "ops/checks.h"
#include "ops/cuda/context.h"
#include "ops/cuda/cudnn_descriptors.h"
#include "ops/cuda/fused_relu_kernels.h"

namespace millrace::ops {

struct BatchNorm2d::Cuda {
  // One input shape's descriptors: x's (also y's, dy's and dx's) and the per-channel one that
  // cuDNN derives from it for gamma, beta, the means and the variances ([1, C, 1, 1]).
  struct Entry {
    cuda::TensorDesc x, channel;
  };
  std::map<Shape, Entry> entries;    // key: the input shape, then the device index
  Shape key;                         // the key of the last train-mode Forward
  Tensor saved_mean, saved_inv_std;  // [C]: the last training forward's batch statistics
  Tensor output;                     // fused ReLU: the last training forward's y
  Tensor masked;                     // fused ReLU: dy where y > 0; reused while the shape holds

  Entry& Get(const Shape& key, const Shape& x_shape) {
    auto it = entries.find(key);
    if (it != entries.end()) return it->second;
    Entry e;
    e.x = cuda::NchwDesc(x_shape);
    cudnnTensorDescriptor_t channel = nullptr;
    MILLRACE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&channel));
    e.channel.reset(channel);
    MILLRACE_CUDNN_CHECK(
        cudnnDeriveBNTensorDescriptor(e.channel.get(), e.x.get(), CUDNN_BATCHNORM_SPATIAL));
    return entries.emplace(key, std::move(e)).first->second;
  }
};

namespace {

// The per-channel f32 tensor `t` on `device`: kept while it fits, else made.
void BatchNormCudaKeep(Tensor& t, const Shape& shape, Device device) {
  if (!t.defined() || t.shape() != shape || t.device() != device) {
    t = Tensor::Empty(shape, DType::kF32, device);
  }
}

}  // namespace

Tensor BatchNorm2d::ForwardCuda(const Tensor& x, Mode mode) {
  const Device device = x.device();
  CheckSameDevice(weight_.value, x, "BatchNorm2d", "weight");
  CheckSameDevice(bias_.value, x, "BatchNorm2d", "bias");
  CheckSameDevice(running_mean_, x, "BatchNorm2d", "running_mean");
  CheckSameDevice(running_var_, x, "BatchNorm2d", "running_var");
  if (!cuda_) cuda_ = decltype(cuda_)(new Cuda(), [](Cuda* state) { delete state; });
  Shape key = x.shape();
  key.push_back(device.index);
  Cuda::Entry& e = cuda_->Get(key, x.shape());
  backend_info_ = fused_relu_ ? "cudnn:batchnorm_spatial + ReLU / cudnn:batchnorm_spatial"
                              : "cudnn:batchnorm_spatial / cudnn:batchnorm_spatial";

  // x, y: [N, C, H, W]; gamma, beta, means, variances: [C].
  Tensor y = Tensor::Empty(x.shape(), DType::kF32, device);
  cudnnHandle_t handle = cuda::Cudnn(device);
  if (mode == Mode::kEval) {
    MILLRACE_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
        handle, CUDNN_BATCHNORM_SPATIAL, &cuda::kBlendOne, &cuda::kBlendZero, e.x.get(),
        cuda::F32Data(x), e.x.get(), cuda::F32Data(y), e.channel.get(),
        cuda::F32Data(weight_.value), cuda::F32Data(bias_.value), cuda::F32Data(running_mean_),
        cuda::F32Data(running_var_), eps_));
  } else {
    BatchNormCudaKeep(cuda_->saved_mean, {channels_}, device);
    BatchNormCudaKeep(cuda_->saved_inv_std, {channels_}, device);
    MILLRACE_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        handle, CUDNN_BATCHNORM_SPATIAL, &cuda::kBlendOne, &cuda::kBlendZero, e.x.get(),
        cuda::F32Data(x), e.x.get(), cuda::F32Data(y), e.channel.get(),
        cuda::F32Data(weight_.value), cuda::F32Data(bias_.value), momentum_,
        cuda::F32Data(running_mean_), cuda::F32Data(running_var_), eps_,
        cuda::F32Data(cuda_->saved_mean), cuda::F32Data(cuda_->saved_inv_std)));
  }
  if (fused_relu_) {
    cuda::LaunchFusedReluForward(cuda::F32Data(y), y.numel(), cuda::Stream(device));
    MILLRACE_CUDA_LAUNCH_CHECK("FusedReluForward");
  }
  if (mode == Mode::kEval) {
    input_ = Tensor();
    cuda_->output = Tensor();
    return y;
  }
  input_ = x.View();
  cuda_->output = fused_relu_ ? y.View() : Tensor();
  cuda_->key = std::move(key);
  return y;
}

Tensor BatchNorm2d::BackwardCuda(const Tensor& dy_in) {
  const Device device = dy_in.device();
  if (!cuda_ || !cuda_->entries.contains(cuda_->key)) {
    MILLRACE_THROW(ErrorKind::kInternal, Describe() << ": no CUDA state for the saved input");
  }
  Cuda::Entry& e = cuda_->entries.at(cuda_->key);
  CheckSameDevice(weight_.grad, dy_in, "BatchNorm2d", "weight gradient", "gradient");
  CheckSameDevice(bias_.grad, dy_in, "BatchNorm2d", "bias gradient", "gradient");
  cudnnHandle_t handle = cuda::Cudnn(device);

  // A fused ReLU: the gradient at the normalisation's output is dy where y > 0.
  const float* dy = cuda::F32Data(dy_in);
  if (cuda_->output.defined()) {
    Tensor& masked = cuda_->masked;
    if (!masked.defined() || masked.shape() != dy_in.shape() || masked.device() != device) {
      masked = Tensor::Empty(dy_in.shape(), DType::kF32, device);
    }
    cuda::LaunchFusedReluBackward(cuda::F32Data(cuda_->output), dy, cuda::F32Data(masked),
                                  masked.numel(), cuda::Stream(device));
    MILLRACE_CUDA_LAUNCH_CHECK("FusedReluBackward");
    dy = cuda::F32Data(masked);
  }

  // dx: [N, C, H, W] through the batch statistics; dgamma, dbeta: [C] += (betaParamDiff 1).
  Tensor dx = Tensor::Empty(input_.shape(), DType::kF32, device);
  MILLRACE_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      handle, CUDNN_BATCHNORM_SPATIAL, &cuda::kBlendOne, &cuda::kBlendZero, &cuda::kBlendOne,
      &cuda::kBlendOne, e.x.get(), cuda::F32Data(input_), e.x.get(), dy, e.x.get(),
      cuda::F32Data(dx), e.channel.get(), cuda::F32Data(weight_.value), cuda::F32Data(weight_.grad),
      cuda::F32Data(bias_.grad), eps_, cuda::F32Data(cuda_->saved_mean),
      cuda::F32Data(cuda_->saved_inv_std)));
  return dx;
}

}  // namespace millrace::ops
