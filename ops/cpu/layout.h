// Layout adapters: a oneDNN primitive may want a tensor in a blocked layout (nChw8c, OIhw8i8o)
// while millrace tensors are always plain row-major. A LayoutAdapter owns a buffer in the
// primitive's layout and the reorders between it and the plain tensor; when the layouts are
// the same it is a pass-through and copies nothing.
//
// Which layouts the convolutions use is a process-wide choice (ConvLayouts), read when a
// layer creates its primitives:
//   kPlain   nchw / oihw forced on oneDNN: no reorders, but its im2col + gemm convolutions,
//            which are slow for depthwise and few-channel convolutions;
//   kOneDnn  oneDNN chooses every layout (its direct jit kernels), with reorders at the
//            layer's edges;
//   kAuto    (default) plain for 1x1 stride-1 convolutions, which gemm runs on nchw without
//            any im2col, and oneDNN's choice for all others.
// docs/BENCHMARKS.md has the measurements behind the default.
#pragma once

#include <dnnl.hpp>

#include "core/tensor.h"

namespace millrace::ops::cpu {

enum class ConvLayouts : unsigned char { kAuto, kPlain, kOneDnn };
void SetConvLayouts(ConvLayouts layouts);  // affects primitives created afterwards
ConvLayouts GetConvLayouts();

class LayoutAdapter {
 public:
  LayoutAdapter() = default;
  // plain: the tensor's desc; wanted: the primitive's desc for that argument.
  LayoutAdapter(const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted);

  bool reorders() const { return reorders_; }
  const dnnl::memory::desc& wanted() const { return wanted_; }

  // The primitive's input: t itself, or the buffer after reordering t into it.
  dnnl::memory In(const Tensor& t);
  // The primitive's output: t itself, or the buffer; call Out(t) after the primitive ran.
  dnnl::memory Target(Tensor& t);
  void Out(Tensor& t);
  // The buffer's last contents as the primitive's input (after In or a run into Target).
  const dnnl::memory& buffer() const { return buffer_; }

 private:
  dnnl::memory::desc plain_, wanted_;
  bool reorders_ = false;
  dnnl::memory buffer_;
  dnnl::reorder to_wanted_, to_plain_;
};

}  // namespace millrace::ops::cpu
