// oneDNN layouts of millrace tensors.
//
// A oneDNN primitive may want its tensors in a blocked layout (on AVX2: nChw8c activations,
// OIhw8i8o / Goihw8g weights). Activations stay in the layout the primitives chose from layer
// to layer: a layer's output is a Tensor whose TensorLayout (core/tensor.h) is a DnnlLayout,
// the next CPU layer takes it as it is, and Sequential converts to plain only before a layer
// that does not take backend layouts (Linear, Flatten, user layers) and at the model's edges.
// Parameters stay plain; the convolutions reorder their weights once per step.
//
//   memory::desc d = DescOf(x);               // x's layout, plain or not
//   Tensor y = EmptyIn(fwd.dst_desc(), shape);  // plain when the desc is plain row-major
//   memory m = adapter.In(x);                 // x in the primitive's layout (reorders if needed)
//
// Which layouts the convolutions use is a process-wide choice (ConvLayouts), read when a
// layer creates its primitives:
//   kPlain   nchw / oihw forced on oneDNN: im2col + gemm, slow for depthwise and few channels;
//   kOneDnn  oneDNN chooses every layout (format_tag::any: its direct jit kernels);
//   kPlainPointwise  plain for 1x1 stride-1 convolutions (gemm on nchw needs no im2col),
//            oneDNN's choice for all others: the default while every layer converted back to
//            plain, kept to measure against;
//   kAuto    (default) the same as kOneDnn: with activations kept blocked between layers the
//            blocked 1x1 jit kernels win (docs/BENCHMARKS.md).
#pragma once

#include <dnnl.hpp>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace millrace::ops::cpu {

enum class ConvLayouts : unsigned char { kAuto, kPlain, kOneDnn, kPlainPointwise };
void SetConvLayouts(ConvLayouts layouts);  // affects primitives created afterwards
ConvLayouts GetConvLayouts();

// A oneDNN memory desc as a TensorLayout, with the reorder to plain made once.
class DnnlLayout final : public TensorLayout {
 public:
  explicit DnnlLayout(const dnnl::memory::desc& desc);
  std::string Name() const override { return name_; }
  size_t nbytes() const override { return desc_.get_size(); }
  void ToPlain(const void* src, void* dst) const override;
  bool SameAs(const TensorLayout& other) const override;
  const dnnl::memory::desc& desc() const { return desc_; }

 private:
  dnnl::memory::desc desc_, plain_;
  std::string name_;
  dnnl::reorder to_plain_;
};

// Whether desc is the plain row-major f32 desc of its dims.
bool IsPlain(const dnnl::memory::desc& desc);
// "nChw8c", "OIhw8i8o", "nchw", ... (a readable name of a desc's layout).
std::string LayoutName(const dnnl::memory::desc& desc);
// The layout's share of a primitive cache key: 0 for plain, else a hash of the desc.
int64_t LayoutKey(const dnnl::memory::desc& desc);

// The desc of a tensor's bytes: its DnnlLayout's, or the plain one of its shape. Throws
// Error(kInvalidArgument) for a layout of another backend.
dnnl::memory::desc DescOf(const Tensor& t);
// The layout for `desc` (nullptr when desc is plain), to share between a layer's outputs.
std::shared_ptr<const DnnlLayout> MakeLayout(const dnnl::memory::desc& desc);
// A new CPU f32 tensor of `shape` in `layout` (plain when null).
Tensor EmptyIn(const std::shared_ptr<const DnnlLayout>& layout, const Shape& shape);

// A primitive's argument in the layout the primitive wants: In() passes a tensor that is already
// in it and reorders any other into a buffer (the reorder is made for the first source layout
// seen and remade only when the source's layout changes). For outputs that must land in a plain
// tensor (weight gradients): Target() then Out().
class LayoutAdapter {
 public:
  LayoutAdapter() = default;
  // plain_view: how to see a plain tensor when its shape is not the primitive's (a grouped
  // convolution's weights [O, I, kh, kw] as [G, O/G, I, kh, kw]); empty: its own shape.
  explicit LayoutAdapter(const dnnl::memory::desc& wanted,
                         const dnnl::memory::desc& plain_view = {});

  const dnnl::memory::desc& wanted() const { return wanted_; }
  // Whether the last In() or Target() went through the buffer.
  bool reordered() const { return reordered_; }

  // The primitive's input: t itself when its layout is wanted(), else the buffer after a
  // reorder of t into it.
  dnnl::memory In(const Tensor& t);
  // The primitive's output for a plain tensor t: t itself when wanted() is plain, else the
  // buffer; call Out(t) after the primitive ran.
  dnnl::memory Target(Tensor& t);
  void Out(Tensor& t);
  // The buffer's last contents as the primitive's input (after an In() that reordered).
  const dnnl::memory& buffer() const { return buffer_; }

 private:
  dnnl::memory::desc FromOf(const Tensor& t) const;

  dnnl::memory::desc wanted_, plain_view_, from_;
  bool reordered_ = false;
  dnnl::memory buffer_;
  dnnl::reorder to_wanted_, to_plain_;
};

}  // namespace millrace::ops::cpu
