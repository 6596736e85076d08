// Conv2d on the CPU: oneDNN convolution forward, backward-data and backward-weights
// primitives per input shape, created on the first Forward of that shape and cached.
// Every memory is the tensors' own, in plain layouts (nchw activations, oihw / goihw weights),
// so no reorder runs on any call; oneDNN picks its implementation for those layouts (see
// BackendInfo(); docs/BENCHMARKS.md has the measurements behind this choice).
// The weight and bias gradients are computed into scratch tensors and added into the grads
// (oneDNN's backward-weights overwrites its output).
#include <unordered_map>

#include "ops/conv2d/conv2d.h"
#include "ops/cpu/dnnl_context.h"

namespace millrace::ops {

using dnnl::memory;

struct Conv2d::Cpu {
  struct Entry {
    memory::desc x, w, b, y;
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_data backward_data;
    dnnl::convolution_backward_weights backward_weights;
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
    e.x = cpu::PlainDesc(x.shape());
    e.y = cpu::PlainDesc(y_shape);
    if (c.groups == 1) {
      e.w = cpu::PlainDesc(weight_.value.shape());
    } else {
      e.w = cpu::PlainDesc(
          {c.groups, c.out_channels / c.groups, c.in_channels / c.groups, c.kernel_h, c.kernel_w});
    }
    e.b = cpu::PlainDesc({c.out_channels});
    const memory::dims strides = {c.stride, c.stride};
    const memory::dims dilates = {c.dilation - 1, c.dilation - 1};  // oneDNN: 0 = dense
    const memory::dims padding = {c.padding, c.padding};
    // Right padding so that oneDNN's output size matches Ho, Wo exactly.
    const memory::dims padding_r = {
        (y_shape[2] - 1) * c.stride + c.dilation * (c.kernel_h - 1) + 1 - x.dim(2) - c.padding,
        (y_shape[3] - 1) * c.stride + c.dilation * (c.kernel_w - 1) + 1 - x.dim(3) - c.padding};
    const auto& engine = cpu::Engine();
    const auto alg = dnnl::algorithm::convolution_direct;
    const auto prop = dnnl::prop_kind::forward_training;
    dnnl::convolution_forward::primitive_desc fwd =
        c.bias ? dnnl::convolution_forward::primitive_desc(
                     {prop, alg, e.x, e.w, e.b, e.y, strides, dilates, padding, padding_r}, engine)
               : dnnl::convolution_forward::primitive_desc(
                     {prop, alg, e.x, e.w, e.y, strides, dilates, padding, padding_r}, engine);
    dnnl::convolution_backward_data::primitive_desc bwd_data(
        {alg, e.x, e.w, e.y, strides, dilates, padding, padding_r}, engine, fwd);
    dnnl::convolution_backward_weights::primitive_desc bwd_weights =
        c.bias ? dnnl::convolution_backward_weights::primitive_desc(
                     {alg, e.x, e.w, e.b, e.y, strides, dilates, padding, padding_r}, engine, fwd)
               : dnnl::convolution_backward_weights::primitive_desc(
                     {alg, e.x, e.w, e.y, strides, dilates, padding, padding_r}, engine, fwd);
    e.forward = dnnl::convolution_forward(fwd);
    e.backward_data = dnnl::convolution_backward_data(bwd_data);
    e.backward_weights = dnnl::convolution_backward_weights(bwd_weights);
    e.impl =
        cpu::ImplName(fwd) + " / " + cpu::ImplName(bwd_data) + " / " + cpu::ImplName(bwd_weights);
    return e;
  });
  cpu_->last_impl = e.impl;
  Tensor y = Tensor::Empty(y_shape);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, cpu::Wrap(e.x, x)},
                                          {DNNL_ARG_WEIGHTS, cpu::Wrap(e.w, weight_.value)},
                                          {DNNL_ARG_DST, cpu::Wrap(e.y, y)}};
  if (c.bias) args[DNNL_ARG_BIAS] = cpu::Wrap(e.b, bias_.value);
  cpu::Execute(Describe(), e.forward, args);
  input_ = mode == Mode::kTrain ? x.View() : Tensor();
  return y;
}

Tensor Conv2d::BackwardCpu(const Tensor& dy) {
  Cpu::Entry& e = cpu_->cache.Get(Describe(), input_.shape(), []() -> Cpu::Entry {
    throw Error(ErrorKind::kInternal, "Conv2d: no primitives for the saved input's shape");
  });
  Tensor dx = Tensor::Empty(input_.shape());
  cpu::Execute(Describe(), e.backward_data,
               {{DNNL_ARG_DIFF_DST, cpu::Wrap(e.y, dy)},
                {DNNL_ARG_WEIGHTS, cpu::Wrap(e.w, weight_.value)},
                {DNNL_ARG_DIFF_SRC, cpu::Wrap(e.x, dx)}});
  if (!cpu_->weight_grad.defined()) {
    cpu_->weight_grad = Tensor::Empty(weight_.value.shape());
    if (config_.bias) cpu_->bias_grad = Tensor::Empty({config_.out_channels});
  }
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, cpu::Wrap(e.x, input_)},
      {DNNL_ARG_DIFF_DST, cpu::Wrap(e.y, dy)},
      {DNNL_ARG_DIFF_WEIGHTS, cpu::Wrap(e.w, cpu_->weight_grad)}};
  if (config_.bias) args[DNNL_ARG_DIFF_BIAS] = cpu::Wrap(e.b, cpu_->bias_grad);
  cpu::Execute(Describe(), e.backward_weights, args);
  cpu::AddInto(weight_.grad.data<float>(), cpu_->weight_grad.data<float>(), weight_.grad.numel());
  if (config_.bias) {
    cpu::AddInto(bias_.grad.data<float>(), cpu_->bias_grad.data<float>(), bias_.grad.numel());
  }
  return dx;
}

std::string Conv2d::BackendInfo() const { return cpu_ ? cpu_->last_impl : std::string(); }

void Conv2d::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
