// ReLU: y = max(x, 0), any shape. Backward: dx = dy where x > 0, else 0.
// Device-neutral: the kernels come from ReLU::Kernels() by the input's device (the CPU backend,
// oneDNN eltwise, is in relu_cpu.cc; the CUDA one, an element-wise kernel, in relu_cuda.cc).
// Keeps a view of the last train-mode input for Backward.
#pragma once

#include <memory>
#include <string>

#include "ops/cpu/register.h"
#include "ops/cuda/register.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"

namespace millrace::ops {

class ReLU : public Layer {
 public:
  ReLU();
  ~ReLU() override;

  std::string_view kind() const override { return "ReLU"; }
  std::string Describe() const override { return "ReLU"; }
  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override;
  bool AcceptsLayouts() const override { return true; }
  std::string BackendInfo() const override;  // "forward / backward" implementations

  // One backend's kernels: member functions that run after the checks (see ops/kernel_table.h).
  struct BackendKernels {
    Tensor (ReLU::*forward)(const Tensor& x);
    Tensor (ReLU::*backward)(const Tensor& dy);
  };
  static KernelTable<BackendKernels>& Kernels();

 private:
  friend void cpu::RegisterCpuKernels();
  friend void cuda::RegisterCudaKernels();
  struct Cpu;  // defined in the CPU backend's file
  struct CpuDeleter {
    void operator()(Cpu* cpu) const noexcept;
  };
  Tensor ForwardCpu(const Tensor& x);
  Tensor BackwardCpu(const Tensor& dy);
  Tensor ForwardCuda(const Tensor& x);  // relu_cuda.cc: plain tensors, no state
  Tensor BackwardCuda(const Tensor& dy);

  Tensor input_;
  std::unique_ptr<Cpu, CpuDeleter> cpu_;
};

}  // namespace millrace::ops
