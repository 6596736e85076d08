// Linear: y = x W^T + b.
//   x: [N, in_features]   W: [out_features, in_features]   b: [out_features]   y: [N, out]
// Device-neutral: Forward and Backward check their arguments, then call the kernels registered
// for x's device in Linear::Kernels() (the CPU backend, oneDNN matmul, is in linear_cpu.cc; the
// CUDA backend, cuBLASLt, in linear_cuda.cc in a build with CUDA). Backward needs
// the last train-mode Forward's input, which the layer keeps as a view: the caller must not
// overwrite x between Forward and Backward.
// Fused ReLU: in a Sequential, a Linear followed directly by a ReLU (the mlp's hidden layers)
// applies it in place to its output right after the matmul, and its Backward masks dy with
// y > 0 (the output, kept for that); Sequential skips the ReLU layer (Layer::FuseNext): no
// tensor of its own, no pass of its own over memory. The same bits as Linear then ReLU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/cpu/register.h"
#include "ops/cuda/register.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"

namespace millrace::ops {

class Linear : public Layer {
 public:
  // Weights and bias drawn like torch.nn.Linear (U(-1/sqrt(in), 1/sqrt(in))) from Rng(seed).
  // Structured pruning builds a smaller Linear with this constructor and copies rows in.
  Linear(int64_t in_features, int64_t out_features, bool bias = true, uint64_t seed = 0);
  ~Linear() override;

  std::string_view kind() const override { return "Linear"; }
  std::string Describe() const override;  // "Linear(784 -> 500)" (", no bias" without one)

  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override;
  int64_t ForwardFlops(const Shape& input) const override;
  std::vector<Parameter*> Parameters() override;
  // Fuses a following ReLU (see above); nullptr or another layer undoes it.
  bool FuseNext(const Layer* next) override;
  bool fused_relu() const { return fused_relu_; }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool has_bias() const { return bias_.value.defined(); }
  Parameter& weight() { return weight_; }                      // [out, in]
  Parameter* bias() { return has_bias() ? &bias_ : nullptr; }  // [out]

  // One backend's kernels: member functions that run after the checks.
  struct BackendKernels {
    Tensor (Linear::*forward)(const Tensor& x, Mode mode);
    Tensor (Linear::*backward)(const Tensor& dy);
  };
  static KernelTable<BackendKernels>& Kernels();

 private:
  friend void cpu::RegisterCpuKernels();
  friend void cuda::RegisterCudaKernels();
  struct Cpu;  // defined in the CPU backend's file
  struct CpuDeleter {
    void operator()(Cpu* cpu) const noexcept;
  };  // oneDNN primitives per input shape (linear_cpu.cc)
  Tensor ForwardCpu(const Tensor& x, Mode mode);
  Tensor BackwardCpu(const Tensor& dy);
  // cuBLASLt plans per input shape (linear_cuda.cc); the deleter is set where the state is
  // made, so a build without CUDA needs no definition of it.
  struct Cuda;
  Tensor ForwardCuda(const Tensor& x, Mode mode);
  Tensor BackwardCuda(const Tensor& dy);

  int64_t in_, out_;
  Parameter weight_, bias_;
  Tensor input_;   // view of the last train-mode input
  Tensor output_;  // view of the last train-mode output, with a fused ReLU only
  bool fused_relu_ = false;
  std::unique_ptr<Cpu, CpuDeleter> cpu_;
  std::unique_ptr<Cuda, void (*)(Cuda*)> cuda_{nullptr, nullptr};
};

}  // namespace millrace::ops
