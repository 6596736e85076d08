// BatchNorm2d, with torch.nn.BatchNorm2d's semantics:
//   x, y: [N, C, H, W]   weight (gamma), bias (beta), running_mean, running_var: [C]
//   kTrain: y = (x - mean_b) / sqrt(var_b + eps) * gamma + beta with the batch's mean and
//           biased variance over (N, H, W); then
//           running_mean = (1 - momentum) running_mean + momentum mean_b
//           running_var  = (1 - momentum) running_var  + momentum var_b * m / (m - 1),
//           m = N H W (the unbiased variance, as torch does).
//   kEval:  the same with running_mean and running_var.
// Backward (after a kTrain Forward) differentiates through the batch statistics.
// Fused ReLU: in a Sequential, a BatchNorm2d followed by a ReLU computes y = max(BN(x), 0) in
// its own primitive (oneDNN's fuse_norm_relu, whose backward masks dy with a workspace saved by
// the forward) and Sequential skips the ReLU layer (Layer::FuseNext); same results.
// Layouts: takes x and dy in any oneDNN layout and returns y and dx in x's (no conversion).
// Device-neutral: the kernels come from BatchNorm2d::Kernels() by the input's device (the CPU
// backend, oneDNN batch_normalization primitives, is in batchnorm_cpu.cc; the CUDA backend,
// cuDNN's batch normalization with the fused ReLU as an own kernel, in batchnorm_cuda.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/cpu/register.h"
#include "ops/cuda/register.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"

namespace millrace::ops {

class BatchNorm2d : public Layer {
 public:
  // gamma = 1, beta = 0, running_mean = 0, running_var = 1.
  explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5);
  ~BatchNorm2d() override;

  std::string_view kind() const override { return "BatchNorm2d"; }
  std::string Describe() const override;  // "BatchNorm2d(64)"
  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override;
  // Normalisation and affine: ~4 operations per element.
  int64_t ForwardFlops(const Shape& input) const override { return 4 * NumElements(input); }
  std::vector<Parameter*> Parameters() override { return {&weight_, &bias_}; }
  bool AcceptsLayouts() const override { return true; }
  // Fuses a following ReLU (see above); nullptr or another layer undoes it.
  bool FuseNext(const Layer* next) override;
  bool fused_relu() const { return fused_relu_; }
  std::vector<std::pair<std::string, Tensor*>> Buffers() override;
  // "forward / backward" implementations of the last Forward.
  std::string BackendInfo() const override { return backend_info_; }

  int64_t channels() const { return channels_; }
  double momentum() const { return momentum_; }
  double eps() const { return eps_; }
  Parameter& weight() { return weight_; }  // gamma [C]
  Parameter& bias() { return bias_; }      // beta [C]
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }

  // One backend's kernels: member functions that run after the checks (see ops/kernel_table.h).
  struct BackendKernels {
    Tensor (BatchNorm2d::*forward)(const Tensor& x, Mode mode);
    Tensor (BatchNorm2d::*backward)(const Tensor& dy);
  };
  static KernelTable<BackendKernels>& Kernels();

 private:
  friend void cpu::RegisterCpuKernels();
  friend void cuda::RegisterCudaKernels();
  struct Cpu;  // defined in the CPU backend's file
  struct CpuDeleter {
    void operator()(Cpu* cpu) const noexcept;
  };
  Tensor ForwardCpu(const Tensor& x, Mode mode);
  Tensor BackwardCpu(const Tensor& dy);
  struct Cuda;  // defined in the CUDA backend's file, batchnorm_cuda.cc
  Tensor ForwardCuda(const Tensor& x, Mode mode);
  Tensor BackwardCuda(const Tensor& dy);

  int64_t channels_;
  double momentum_, eps_;
  Parameter weight_, bias_;
  Tensor running_mean_, running_var_;
  bool fused_relu_ = false;
  Tensor input_, batch_mean_, batch_var_;  // saved by a kTrain Forward (the batch's on the CPU)
  std::string backend_info_;
  std::unique_ptr<Cpu, CpuDeleter> cpu_;
  // Made and given its deleter by batchnorm_cuda.cc, so that a build without CUDA links no CUDA
  // code.
  std::unique_ptr<Cuda, void (*)(Cuda*)> cuda_{nullptr, nullptr};
};

}  // namespace millrace::ops
