// Conv2d on the CPU: oneDNN convolution forward, backward-data and backward-weights
// primitives per input shape, created on the first Forward of that shape and cached.
//
// Layouts (cpu::ConvLayouts): where oneDNN chooses the layouts of activations and
// weights (on AVX2 its direct jit kernels want nChw8c / OIhw8i8o, and the depthwise kernel
// Goihw8g), and LayoutAdapters reorder at the layer's edges: the input and the weights once
// per Forward, reused by both backward passes when those want the same layouts; dy once per
// Backward. Where the layouts are plain, every memory is the tensors' own (no reorders) and
// oneDNN runs im2col + gemm (no im2col for 1x1 stride-1 convolutions). The weight and bias
// gradients are computed into scratch and added into the grads (oneDNN's backward-weights
// overwrites its output).
#include <unordered_map>

#include "ops/conv2d/conv2d.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/layout.h"

namespace millrace::ops {

using dnnl::memory;

struct Conv2d::Cpu {
  struct Entry {
    memory::desc bias;
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_data backward_data;
    dnnl::convolution_backward_weights backward_weights;
    // forward: x, w, y; backward data: dy, w, dx; backward weights: x, dy, dw
    cpu::LayoutAdapter f_x, f_w, f_y, d_dy, d_w, d_dx, w_x, w_dy, w_dw;
    std::string impl;
  };
  cpu::PrimitiveCache<Entry> cache;
  Tensor weight_grad, bias_grad;  // scratch
  std::string last_impl;
};

Tensor Conv2d::ForwardCpu(const Tensor& x, Mode mode) {
  if (!cpu_) cpu_.reset(new Cpu());
  const Conv2dConfig& c = config_;
  const Shape y_shape = OutputShape(x.shape());
  Cpu::Entry& e = cpu_->cache.Get(Describe(), x.shape(), [&] {
    Cpu::Entry e;
    const memory::desc x_plain = cpu::PlainDesc(x.shape());
    const memory::desc y_plain = cpu::PlainDesc(y_shape);
    const memory::desc w_plain =
        c.groups == 1 ? cpu::PlainDesc(weight_.value.shape())
                      : cpu::PlainDesc({c.groups, c.out_channels / c.groups,
                                        c.in_channels / c.groups, c.kernel_h, c.kernel_w});
    e.bias = cpu::PlainDesc({c.out_channels});
    const cpu::ConvLayouts policy = cpu::GetConvLayouts();
    const bool pointwise = c.kernel_h == 1 && c.kernel_w == 1 && c.stride == 1 && c.padding == 0;
    const bool any =
        policy == cpu::ConvLayouts::kOneDnn || (policy == cpu::ConvLayouts::kAuto && !pointwise);
    auto Any = [&](const memory::desc& plain) {
      return any ? memory::desc(plain.dims(), memory::data_type::f32, memory::format_tag::any)
                 : plain;
    };
    const memory::desc x_md = Any(x_plain), y_md = Any(y_plain), w_md = Any(w_plain);
    const memory::dims strides = {c.stride, c.stride};
    const memory::dims dilates = {c.dilation - 1, c.dilation - 1};  // oneDNN: 0 = dense
    const memory::dims padding = {c.padding, c.padding};
    // Right padding so that oneDNN's output size matches Ho, Wo exactly (may be negative).
    const memory::dims padding_r = {
        (y_shape[2] - 1) * c.stride + c.dilation * (c.kernel_h - 1) + 1 - x.dim(2) - c.padding,
        (y_shape[3] - 1) * c.stride + c.dilation * (c.kernel_w - 1) + 1 - x.dim(3) - c.padding};
    const auto& engine = cpu::Engine();
    const auto alg = dnnl::algorithm::convolution_direct;
    const auto prop = dnnl::prop_kind::forward_training;
    using Fwd = dnnl::convolution_forward;
    using BwdData = dnnl::convolution_backward_data;
    using BwdWeights = dnnl::convolution_backward_weights;
    Fwd::primitive_desc fwd =
        c.bias ? Fwd::primitive_desc(
                     {prop, alg, x_md, w_md, e.bias, y_md, strides, dilates, padding, padding_r},
                     engine)
               : Fwd::primitive_desc(
                     {prop, alg, x_md, w_md, y_md, strides, dilates, padding, padding_r}, engine);
    BwdData::primitive_desc bwd_data({alg, x_md, w_md, y_md, strides, dilates, padding, padding_r},
                                     engine, fwd);
    BwdWeights::primitive_desc bwd_weights =
        c.bias ? BwdWeights::primitive_desc(
                     {alg, x_md, w_md, e.bias, y_md, strides, dilates, padding, padding_r}, engine,
                     fwd)
               : BwdWeights::primitive_desc(
                     {alg, x_md, w_md, y_md, strides, dilates, padding, padding_r}, engine, fwd);
    e.forward = Fwd(fwd);
    e.backward_data = BwdData(bwd_data);
    e.backward_weights = BwdWeights(bwd_weights);
    e.f_x = cpu::LayoutAdapter(x_plain, fwd.src_desc());
    e.f_w = cpu::LayoutAdapter(w_plain, fwd.weights_desc());
    e.f_y = cpu::LayoutAdapter(y_plain, fwd.dst_desc());
    e.d_dy = cpu::LayoutAdapter(y_plain, bwd_data.diff_dst_desc());
    e.d_w = cpu::LayoutAdapter(w_plain, bwd_data.weights_desc());
    e.d_dx = cpu::LayoutAdapter(x_plain, bwd_data.diff_src_desc());
    e.w_x = cpu::LayoutAdapter(x_plain, bwd_weights.src_desc());
    e.w_dy = cpu::LayoutAdapter(y_plain, bwd_weights.diff_dst_desc());
    e.w_dw = cpu::LayoutAdapter(w_plain, bwd_weights.diff_weights_desc());
    e.impl =
        cpu::ImplName(fwd) + " / " + cpu::ImplName(bwd_data) + " / " + cpu::ImplName(bwd_weights);
    return e;
  });
  cpu_->last_impl = e.impl;
  Tensor y = Tensor::Empty(y_shape);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, e.f_x.In(x)},
                                          {DNNL_ARG_WEIGHTS, e.f_w.In(weight_.value)},
                                          {DNNL_ARG_DST, e.f_y.Target(y)}};
  if (c.bias) args[DNNL_ARG_BIAS] = cpu::Wrap(e.bias, bias_.value);
  cpu::Execute(Describe(), e.forward, args);
  e.f_y.Out(y);
  input_ = mode == Mode::kTrain ? x.View() : Tensor();
  return y;
}

Tensor Conv2d::BackwardCpu(const Tensor& dy) {
  Cpu::Entry& e = cpu_->cache.Get(Describe(), input_.shape(), []() -> Cpu::Entry {
    throw Error(ErrorKind::kInternal, "Conv2d: no primitives for the saved input's shape");
  });
  // Reuse what the forward already reordered when the layouts agree (the weights cannot have
  // changed between this step's Forward and Backward).
  auto Same = [](const cpu::LayoutAdapter& a, const cpu::LayoutAdapter& b) {
    return a.reorders() && b.reorders() && a.wanted() == b.wanted();
  };
  Tensor dx;
  const memory dy_data = e.d_dy.In(dy);
  if (input_grad()) {
    dx = Tensor::Empty(input_.shape());
    const memory w_data = Same(e.d_w, e.f_w) ? e.f_w.buffer() : e.d_w.In(weight_.value);
    cpu::Execute(Describe(), e.backward_data,
                 {{DNNL_ARG_DIFF_DST, dy_data},
                  {DNNL_ARG_WEIGHTS, w_data},
                  {DNNL_ARG_DIFF_SRC, e.d_dx.Target(dx)}});
    e.d_dx.Out(dx);
  }

  if (!cpu_->weight_grad.defined()) {
    cpu_->weight_grad = Tensor::Empty(weight_.value.shape());
    if (config_.bias) cpu_->bias_grad = Tensor::Empty({config_.out_channels});
  }
  const memory x_data = Same(e.w_x, e.f_x) ? e.f_x.buffer() : e.w_x.In(input_);
  const memory dy_w = Same(e.w_dy, e.d_dy) ? e.d_dy.buffer() : e.w_dy.In(dy);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, x_data},
      {DNNL_ARG_DIFF_DST, dy_w},
      {DNNL_ARG_DIFF_WEIGHTS, e.w_dw.Target(cpu_->weight_grad)}};
  if (config_.bias) args[DNNL_ARG_DIFF_BIAS] = cpu::Wrap(e.bias, cpu_->bias_grad);
  cpu::Execute(Describe(), e.backward_weights, args);
  e.w_dw.Out(cpu_->weight_grad);
  cpu::AddInto(weight_.grad.data<float>(), cpu_->weight_grad.data<float>(), weight_.grad.numel());
  if (config_.bias) {
    cpu::AddInto(bias_.grad.data<float>(), cpu_->bias_grad.data<float>(), bias_.grad.numel());
  }
  return dx;
}

std::string Conv2d::BackendInfo() const { return cpu_ ? cpu_->last_impl : std::string(); }

void Conv2d::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
