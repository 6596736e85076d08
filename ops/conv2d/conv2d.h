// Conv2d: 2-D convolution (cross-correlation, as in torch.nn.Conv2d) with stride, padding,
// dilation and groups; depthwise is groups == in_channels == out_channels / k.
//   x: [N, C_in, H, W]   weight: [C_out, C_in/groups, kh, kw]   bias: [C_out]
//   y: [N, C_out, Ho, Wo], Ho = (H + 2 padding - dilation (kh - 1) - 1) / stride + 1
// Device-neutral: the kernels come from Conv2d::Kernels() by the input's device (the CPU
// backend, oneDNN convolution primitives, is in conv2d_cpu.cc; the CUDA backend, cuDNN, in
// conv2d_cuda.cc).
// Keeps a view of the last train-mode input for Backward.
// Fused ReLU: in a Sequential, a Conv2d followed directly by a ReLU (no BatchNorm between, as
// in a DepthwiseSeparable block without batch norm) applies it as a oneDNN eltwise post-op, and
// its Backward masks dy with y > 0 (the output, kept for that) before the convolution's
// backward passes; Sequential skips the ReLU layer (Layer::FuseNext). Same results. (On CUDA the
// bias and the ReLU are one pass of millrace's own kernel after cuDNN's convolution.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/cpu/register.h"
#include "ops/cuda/register.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"

namespace millrace::ops {

struct Conv2dConfig {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int64_t kernel_h = 3, kernel_w = 3;
  int64_t stride = 1;    // same along H and W
  int64_t padding = 0;   // zeros on every side
  int64_t dilation = 1;  // 1 = a dense kernel
  int64_t groups = 1;    // divides in_channels and out_channels
  bool bias = true;
};

class Conv2d : public Layer {
 public:
  // Weights and bias drawn like torch.nn.Conv2d (Kaiming uniform with a = sqrt(5), i.e.
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups * kh * kw) from Rng(seed).
  // Structured pruning builds a smaller Conv2d with this constructor and copies filters in.
  explicit Conv2d(const Conv2dConfig& config, uint64_t seed = 0);
  ~Conv2d() override;

  std::string_view kind() const override { return "Conv2d"; }
  // "Conv2d(32 -> 64, 3x3, stride 2, padding 1, groups 32, no bias)" (defaults left out).
  std::string Describe() const override;

  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override;
  int64_t ForwardFlops(const Shape& input) const override;
  std::vector<Parameter*> Parameters() override;
  // Takes x and dy in any oneDNN layout; returns y and dx in the layouts its primitives chose.
  bool AcceptsLayouts() const override { return true; }
  // Fuses a following ReLU (see above); nullptr or another layer undoes it.
  bool FuseNext(const Layer* next) override;
  bool fused_relu() const { return fused_relu_; }

  const Conv2dConfig& config() const { return config_; }
  bool depthwise() const { return config_.groups > 1 && config_.groups == config_.in_channels; }
  Parameter& weight() { return weight_; }                        // [out, in/groups, kh, kw]
  Parameter* bias() { return config_.bias ? &bias_ : nullptr; }  // [out]

  // The implementations used for the last shape, "fwd / bwd-data / bwd-weights" (oneDNN's, or
  // cuDNN's algorithms; for benchmarks and reports); empty before the first Forward.
  std::string BackendInfo() const override { return backend_info_; }

  // One backend's kernels: member functions that run after the checks (see ops/kernel_table.h).
  struct BackendKernels {
    Tensor (Conv2d::*forward)(const Tensor& x, Mode mode);
    Tensor (Conv2d::*backward)(const Tensor& dy);
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
  struct Cuda;  // defined in the CUDA backend's file, conv2d_cuda.cc
  Tensor ForwardCuda(const Tensor& x, Mode mode);
  Tensor BackwardCuda(const Tensor& dy);

  Conv2dConfig config_;
  Parameter weight_, bias_;
  bool fused_relu_ = false;
  Tensor input_;
  Tensor output_;  // the last train-mode output, with a fused ReLU only
  std::string backend_info_;
  std::unique_ptr<Cpu, CpuDeleter> cpu_;
  // Made and given its deleter by conv2d_cuda.cc, so that a build without CUDA links no CUDA code.
  std::unique_ptr<Cuda, void (*)(Cuda*)> cuda_{nullptr, nullptr};
};

}  // namespace millrace::ops
