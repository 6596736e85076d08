// Conv2d on the CPU: oneDNN convolution forward, backward-data and backward-weights
// primitives per input shape, created on the first Forward of that shape and cached.
//
// Layouts (cpu::ConvLayouts): oneDNN chooses the layouts (format_tag::any; on AVX2 its direct
// jit kernels want nChw8c activations, OIhw8i8o weights and Goihw8g for depthwise). y and dx
// are returned in the primitives' layouts (a Tensor with a cpu::DnnlLayout), so the next
// layer takes them without a reorder; x and dy are reordered only when they arrive in another
// layout (plain images at the model's edge). The weights stay plain in their Parameter: they
// are reordered once per Forward and that copy serves the backward-data pass too; the weight
// and bias gradients are computed into scratch (oneDNN's backward-weights overwrites its output)
// and added into the grads. Exception: a convolution over fewer than 8 input channels (the
// first layer's) computes its weight gradient on nhwc x and dy (oneDNN's jit kernel for them;
// blocked, x would be padded to 8 channels). A fused ReLU is an
// eltwise post-op of the forward; the backward first masks dy with the saved output
// (eltwise_relu_use_dst_for_bwd: y > 0 where x > 0).
#include <unordered_map>

#include "ops/conv2d/conv2d.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/layout.h"

namespace millrace::ops {

using dnnl::memory;

struct Conv2d::Cpu {
  struct Entry {
    memory::desc bias, y, dx;  // y: the forward's dst, dx: backward-data's diff_src
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_data backward_data;
    dnnl::convolution_backward_weights backward_weights;
    std::shared_ptr<const cpu::DnnlLayout> y_layout, dx_layout;  // null: plain
    // forward: x, w; backward data: dy, w; backward weights: x, dy, dw
    cpu::LayoutAdapter f_x, f_w, d_dy, d_w, w_x, w_dy, w_dw;
    dnnl::eltwise_backward relu_backward;  // fused ReLU only: dy * (y > 0), in y's layout
    cpu::LayoutAdapter r_dy;               // dy into y's layout for it
    std::string impl;
  };
  cpu::PrimitiveCache<Entry> cache;
  Tensor weight_grad, bias_grad;  // scratch
  memory x_data, w_data;          // what the last Forward ran on, for the Backward
  Shape key;                      // the cache key of the last train-mode Forward
};

Tensor Conv2d::ForwardCpu(const Tensor& x, Mode mode) {
  if (!cpu_) cpu_.reset(new Cpu());
  const Conv2dConfig& c = config_;
  const Shape y_shape = OutputShape(x.shape());
  Shape key = x.shape();
  key.push_back(fused_relu_);
  Cpu::Entry& e = cpu_->cache.Get(Describe(), key, [&] {
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
    const bool any = policy == cpu::ConvLayouts::kOneDnn || policy == cpu::ConvLayouts::kAuto ||
                     (policy == cpu::ConvLayouts::kPlainPointwise && !pointwise);
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
    dnnl::primitive_attr attr;
    if (fused_relu_) {
      dnnl::post_ops relu;
      relu.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(relu);
    }
    Fwd::primitive_desc fwd =
        c.bias ? Fwd::primitive_desc(
                     {prop, alg, x_md, w_md, e.bias, y_md, strides, dilates, padding, padding_r},
                     attr, engine)
               : Fwd::primitive_desc(
                     {prop, alg, x_md, w_md, y_md, strides, dilates, padding, padding_r}, attr,
                     engine);
    // The backward passes choose their layouts too (the same as the forward's wherever oneDNN
    // has a jit kernel for them; forcing the forward's would give conv1's backward-weights, whose
    // input has one channel, the reference kernel).
    BwdData::primitive_desc bwd_data({alg, x_md, w_md, y_md, strides, dilates, padding, padding_r},
                                     engine, fwd);
    // A few input channels (the images' one): the jit backward-weights kernel on blocked layouts
    // would run on x padded to a block of 8 channels; oneDNN's jit kernel on nhwc x and dy
    // (dy reordered from nChw8c) beats im2col + gemm on plain memory: the cnn's conv1 backward
    // 6.7 -> 3.9 ms at batch 128 on one AVX2 core (`ops_layer_profile --model cnn --threads 1`,
    // docs/BENCHMARKS.md "Second round"). kAuto only.
    // Where oneDNN has no jit kernel for nhwc (it would pick its reference kernel, ~100x
    // slower), im2col + gemm on plain memory.
    const bool few = policy == cpu::ConvLayouts::kAuto && c.groups == 1 && c.in_channels < 8;
    auto WeightsPd = [&](const memory::desc& wx, const memory::desc& wy) {
      return c.bias ? BwdWeights::primitive_desc(
                          {alg, wx, w_md, e.bias, wy, strides, dilates, padding, padding_r}, engine,
                          fwd)
                    : BwdWeights::primitive_desc(
                          {alg, wx, w_md, wy, strides, dilates, padding, padding_r}, engine, fwd);
    };
    BwdWeights::primitive_desc bwd_weights;
    if (few) {
      const auto nhwc = memory::format_tag::nhwc;
      bwd_weights = WeightsPd(memory::desc(x_plain.dims(), memory::data_type::f32, nhwc),
                              memory::desc(y_plain.dims(), memory::data_type::f32, nhwc));
      if (cpu::ImplName(bwd_weights).rfind("ref", 0) == 0) {
        bwd_weights = WeightsPd(x_plain, y_plain);
      }
    } else {
      bwd_weights = WeightsPd(x_md, y_md);
    }
    e.forward = Fwd(fwd);
    e.backward_data = BwdData(bwd_data);
    e.backward_weights = BwdWeights(bwd_weights);
    e.y = fwd.dst_desc();
    e.dx = bwd_data.diff_src_desc();
    e.y_layout = cpu::MakeLayout(fwd.dst_desc());
    e.dx_layout = cpu::MakeLayout(bwd_data.diff_src_desc());
    e.f_x = cpu::LayoutAdapter(fwd.src_desc());
    e.f_w = cpu::LayoutAdapter(fwd.weights_desc(), w_plain);
    e.d_dy = cpu::LayoutAdapter(bwd_data.diff_dst_desc());
    e.d_w = cpu::LayoutAdapter(bwd_data.weights_desc(), w_plain);
    e.w_x = cpu::LayoutAdapter(bwd_weights.src_desc());
    e.w_dy = cpu::LayoutAdapter(bwd_weights.diff_dst_desc());
    e.w_dw = cpu::LayoutAdapter(bwd_weights.diff_weights_desc(), w_plain);
    e.impl =
        cpu::ImplName(fwd) + " / " + cpu::ImplName(bwd_data) + " / " + cpu::ImplName(bwd_weights);
    if (fused_relu_) {
      const auto relu_alg = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
      dnnl::eltwise_forward::primitive_desc hint(
          {dnnl::prop_kind::forward_training, relu_alg, e.y, 0.f}, engine);
      e.relu_backward = dnnl::eltwise_backward(
          dnnl::eltwise_backward::primitive_desc({relu_alg, e.y, e.y, 0.f}, engine, hint));
      e.r_dy = cpu::LayoutAdapter(e.y);
      e.impl += " (fused ReLU)";
    }
    return e;
  });
  backend_info_ = e.impl;
  Tensor y = cpu::EmptyIn(e.y_layout, y_shape);
  const memory x_data = e.f_x.In(x);
  const memory w_data = e.f_w.In(weight_.value);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, x_data}, {DNNL_ARG_WEIGHTS, w_data}, {DNNL_ARG_DST, cpu::Wrap(e.y, y)}};
  if (c.bias) args[DNNL_ARG_BIAS] = cpu::Wrap(e.bias, bias_.value);
  cpu::Execute(Describe(), e.forward, args);
  if (mode == Mode::kTrain) {
    input_ = x.View();
    output_ = fused_relu_ ? y.View() : Tensor();
    cpu_->key = std::move(key);
    cpu_->x_data = x_data;  // x itself, or its reordered copy in f_x's buffer
    cpu_->w_data = w_data;
  } else {
    input_ = Tensor();
    output_ = Tensor();
  }
  return y;
}

Tensor Conv2d::BackwardCpu(const Tensor& dy_in) {
  Cpu::Entry& e = cpu_->cache.Get(Describe(), cpu_->key, []() -> Cpu::Entry {
    throw Error(ErrorKind::kInternal, "Conv2d: no primitives for the saved input's shape");
  });
  // A fused ReLU: the gradient at the convolution's output is dy where y > 0.
  Tensor masked;
  if (output_.defined()) {
    masked = cpu::EmptyIn(e.y_layout, output_.shape());
    cpu::Execute(Describe(), e.relu_backward,
                 {{DNNL_ARG_DST, cpu::Wrap(e.y, output_)},
                  {DNNL_ARG_DIFF_DST, e.r_dy.In(dy_in)},
                  {DNNL_ARG_DIFF_SRC, cpu::Wrap(e.y, masked)}});
  }
  const Tensor& dy = output_.defined() ? masked : dy_in;
  // The forward's x and weights serve the backward passes when the layouts agree (neither can
  // have changed between this step's Forward and Backward).
  const memory dy_data = e.d_dy.In(dy);
  Tensor dx;
  if (input_grad()) {
    dx = cpu::EmptyIn(e.dx_layout, input_.shape());
    const memory w_data = e.d_w.wanted() == e.f_w.wanted() ? cpu_->w_data : e.d_w.In(weight_.value);
    cpu::Execute(Describe(), e.backward_data,
                 {{DNNL_ARG_DIFF_DST, dy_data},
                  {DNNL_ARG_WEIGHTS, w_data},
                  {DNNL_ARG_DIFF_SRC, cpu::Wrap(e.dx, dx)}});
  }

  if (!cpu_->weight_grad.defined()) {
    cpu_->weight_grad = Tensor::Empty(weight_.value.shape());
    if (config_.bias) cpu_->bias_grad = Tensor::Empty({config_.out_channels});
  }
  const memory x_data = e.w_x.wanted() == e.f_x.wanted() ? cpu_->x_data : e.w_x.In(input_);
  const memory dy_w = e.w_dy.wanted() == e.d_dy.wanted() ? dy_data : e.w_dy.In(dy);
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

void Conv2d::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
