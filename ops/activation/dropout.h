// Dropout with inverted scaling: in kTrain mode each element is kept with probability 1 - p
// and scaled by 1 / (1 - p), so kEval is the identity. The keep/drop draws come from the
// layer's own Rng(seed): the same seed and the same sequence of calls give the same masks.
// Backward: dx = dy * scale (the last train-mode Forward's mask).
// Device-neutral: the kernels come from Dropout::Kernels() by the input's device (the CPU
// backend is in dropout_cpu.cc, the CUDA one in dropout_cuda.cc). Both draw the mask from the
// same Rng in the same order, so a seed gives the same masks on either device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/cpu/register.h"
#include "ops/cuda/register.h"
#include "ops/init.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"

namespace millrace::ops {

class Dropout : public Layer {
 public:
  // 0 <= p < 1.
  explicit Dropout(double p, uint64_t seed = 0);

  std::string_view kind() const override { return "Dropout"; }
  std::string Describe() const override;  // "Dropout(p=0.5)"
  // kTrain: a new mask per call. kEval: returns a view of x.
  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override { return input; }

  double p() const { return p_; }
  // The random stream (checkpoint its engine() to resume the same masks).
  Rng& rng() { return rng_; }

  // One backend's kernels: member functions that run after the checks (see ops/kernel_table.h).
  // forward: a train-mode Forward (draws the mask into scale_).
  struct BackendKernels {
    Tensor (Dropout::*forward)(const Tensor& x);
    Tensor (Dropout::*backward)(const Tensor& dy);
  };
  static KernelTable<BackendKernels>& Kernels();

 private:
  friend void cpu::RegisterCpuKernels();
  friend void cuda::RegisterCudaKernels();
  Tensor ForwardCpu(const Tensor& x);  // dropout_cpu.cc
  Tensor BackwardCpu(const Tensor& dy);
  // The pinned staging of the draws (dropout_cuda.cc); the deleter is set where it is made.
  struct Cuda;
  Tensor ForwardCuda(const Tensor& x);
  Tensor BackwardCuda(const Tensor& dy);

  double p_;
  Rng rng_;
  Tensor scale_;  // 0 or 1/(1-p) per element of the last train-mode Forward
  std::unique_ptr<Cuda, void (*)(Cuda*)> cuda_{nullptr, nullptr};
};

}  // namespace millrace::ops
