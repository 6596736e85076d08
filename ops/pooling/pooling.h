// Pooling over the spatial dimensions, with torch's semantics (floor output size):
//   x: [N, C, H, W] -> y: [N, C, Ho, Wo],  Ho = (H + 2 padding - kernel) / stride + 1
//   MaxPool2d      max over the window (padding counts as -inf)
//   AvgPool2d      mean over the window; count_include_pad = true (torch's default) divides
//                  by the window including its zero padding, false by the valid part only
//   GlobalAvgPool  mean over all of H x W: y is [N, C, 1, 1] (torch's AdaptiveAvgPool2d(1))
// Device-neutral: the kernels come from Pool2d::Kernels() by the input's device (the CPU
// backend, in pooling_cpu.cc: millrace's own loops for max pooling on the convolutions'
// layouts, max_pool_cpu.h, and oneDNN pooling primitives otherwise; the CUDA backend, own
// kernels with the same semantics, in pooling_cuda.cc). Max pooling's gradient goes to the
// window's first maximum in row-major order, as torch's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/cpu/register.h"
#include "ops/cuda/register.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"

namespace millrace::ops {

// What the three pooling layers share. Not used directly.
class Pool2d : public Layer {
 public:
  enum class Kind : unsigned char { kMax, kAvgIncludePad, kAvgExcludePad };
  ~Pool2d() override;

  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override;
  // One operation per input element of each window.
  int64_t ForwardFlops(const Shape& input) const override;
  // "forward / backward" implementations of the last Forward.
  std::string BackendInfo() const override { return backend_info_; }
  // Takes x and dy in any oneDNN layout; y and dx come in the layouts oneDNN picks for x's.
  bool AcceptsLayouts() const override { return true; }

  int64_t kernel() const { return kernel_; }  // 0 for GlobalAvgPool (the whole input)
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

 protected:
  // kernel 0: global (the window is the whole input, stride 1, no padding).
  Pool2d(Kind kind, int64_t kernel, int64_t stride, int64_t padding);

 public:
  // One backend's kernels: member functions that run after the checks (see ops/kernel_table.h).
  struct BackendKernels {
    Tensor (Pool2d::*forward)(const Tensor& x, Mode mode);
    Tensor (Pool2d::*backward)(const Tensor& dy);
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
  struct Cuda;  // defined in the CUDA backend's file, pooling_cuda.cc
  Tensor ForwardCuda(const Tensor& x, Mode mode);
  Tensor BackwardCuda(const Tensor& dy);

  Kind pool_kind_;
  int64_t kernel_, stride_, padding_;
  Shape input_shape_;    // of the last train-mode Forward
  Device input_device_;  // its device
  Shape input_key_;      // its primitive cache key (shape and layout)
  std::string backend_info_;
  std::unique_ptr<Cpu, CpuDeleter> cpu_;
  // Made and given its deleter by pooling_cuda.cc, so that a build without CUDA links no CUDA
  // code.
  std::unique_ptr<Cuda, void (*)(Cuda*)> cuda_{nullptr, nullptr};
};

class MaxPool2d : public Pool2d {
 public:
  // stride 0 means stride = kernel (torch's default). padding <= kernel / 2.
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  std::string_view kind() const override { return "MaxPool2d"; }
  std::string Describe() const override;  // "MaxPool2d(2)", "MaxPool2d(3, stride 2, padding 1)"
};

class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0,
                     bool count_include_pad = true);
  std::string_view kind() const override { return "AvgPool2d"; }
  std::string Describe() const override;
};

class GlobalAvgPool : public Pool2d {
 public:
  GlobalAvgPool();
  std::string_view kind() const override { return "GlobalAvgPool"; }
  std::string Describe() const override { return "GlobalAvgPool"; }
};

}  // namespace millrace::ops
