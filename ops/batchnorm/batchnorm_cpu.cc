// BatchNorm2d on the CPU: oneDNN batch_normalization primitives per input shape and layout,
// cached. They run on x in its own layout (nChw8c after a blocked convolution: oneDNN's jit
// kernel; plain nchw: its reference-like ncsp kernel) and write y and dx in the same layout.
//   training forward: computes the batch mean and (biased) variance into batch_mean_ /
//                     batch_var_, which the backward reads; running stats updated here. With a
//                     fused ReLU (fuse_norm_relu) it also writes the workspace, the mask
//                     y > 0, that the backward applies to dy.
//   inference forward: use_global_stats with the running mean and variance.
//   backward: diff_src, diff_scale (gamma) and diff_shift (beta); the latter two are written to
//             scratch and added into the grads.
#include <unordered_map>

#include "ops/batchnorm/batchnorm.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/layout.h"

namespace millrace::ops {

using dnnl::memory;
using dnnl::normalization_flags;

struct BatchNorm2d::Cpu {
  struct Entry {
    memory::desc x, c;
    std::shared_ptr<const cpu::DnnlLayout> layout;  // x's, y's and dx's; null: plain
    dnnl::batch_normalization_forward train, infer;
    dnnl::batch_normalization_backward backward;
    memory workspace;       // fused ReLU only: written by train, read by backward
    cpu::LayoutAdapter dy;  // dy into x's layout
    std::string impl;
  };
  cpu::PrimitiveCache<Entry> cache;
  Tensor weight_grad, bias_grad;  // scratch
  Shape input_key;                // the cache key of the last train-mode Forward
};

namespace {
const auto kAffine = normalization_flags::use_scale | normalization_flags::use_shift;
}

Tensor BatchNorm2d::ForwardCpu(const Tensor& x, Mode mode) {
  if (!cpu_) cpu_.reset(new Cpu());
  Shape key = x.shape();
  key.push_back(cpu::LayoutKey(cpu::DescOf(x)));
  key.push_back(fused_relu_);
  Cpu::Entry& e = cpu_->cache.Get(Describe(), key, [&] {
    Cpu::Entry e;
    e.x = cpu::DescOf(x);
    e.layout = std::dynamic_pointer_cast<const cpu::DnnlLayout>(x.shared_layout());
    e.c = cpu::PlainDesc({channels_});
    const float eps = static_cast<float>(eps_);
    const auto flags = fused_relu_ ? kAffine | normalization_flags::fuse_norm_relu : kAffine;
    const auto& engine = cpu::Engine();
    dnnl::batch_normalization_forward::primitive_desc train(
        {dnnl::prop_kind::forward_training, e.x, eps, flags}, engine);
    dnnl::batch_normalization_forward::primitive_desc infer(
        {dnnl::prop_kind::forward_inference, e.x, eps,
         flags | normalization_flags::use_global_stats},
        engine);
    dnnl::batch_normalization_backward::primitive_desc backward(
        {dnnl::prop_kind::backward, e.x, e.x, eps, flags}, engine, train);
    e.train = dnnl::batch_normalization_forward(train);
    e.infer = dnnl::batch_normalization_forward(infer);
    e.backward = dnnl::batch_normalization_backward(backward);
    if (fused_relu_) e.workspace = memory(train.workspace_desc(), engine);
    e.dy = cpu::LayoutAdapter(backward.diff_dst_desc());
    e.impl = cpu::ImplName(train) + " / " + cpu::ImplName(backward);
    if (fused_relu_) e.impl += " (fused ReLU)";
    return e;
  });
  backend_info_ = e.impl;
  Tensor y = cpu::EmptyIn(e.layout, x.shape());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, cpu::Wrap(e.x, x)},
                                          {DNNL_ARG_DST, cpu::Wrap(e.x, y)},
                                          {DNNL_ARG_SCALE, cpu::Wrap(e.c, weight_.value)},
                                          {DNNL_ARG_SHIFT, cpu::Wrap(e.c, bias_.value)}};
  if (mode == Mode::kEval) {
    args[DNNL_ARG_MEAN] = cpu::Wrap(e.c, running_mean_);
    args[DNNL_ARG_VARIANCE] = cpu::Wrap(e.c, running_var_);
    cpu::Execute(Describe(), e.infer, args);
    input_ = Tensor();
    return y;
  }
  batch_mean_ = Tensor::Empty({channels_});
  batch_var_ = Tensor::Empty({channels_});
  args[DNNL_ARG_MEAN] = cpu::Wrap(e.c, batch_mean_);
  args[DNNL_ARG_VARIANCE] = cpu::Wrap(e.c, batch_var_);
  if (e.workspace) args[DNNL_ARG_WORKSPACE] = e.workspace;
  cpu::Execute(Describe(), e.train, args);
  input_ = x.View();
  cpu_->input_key = std::move(key);
  // Running statistics, torch's way: the variance enters unbiased.
  const double m = static_cast<double>(x.numel() / channels_);
  const double unbias = m / (m - 1.0);
  float* rm = running_mean_.data<float>();
  float* rv = running_var_.data<float>();
  const float* bm = batch_mean_.data<float>();
  const float* bv = batch_var_.data<float>();
  for (int64_t c = 0; c < channels_; ++c) {
    rm[c] = static_cast<float>((1.0 - momentum_) * rm[c] + momentum_ * bm[c]);
    rv[c] = static_cast<float>((1.0 - momentum_) * rv[c] + momentum_ * bv[c] * unbias);
  }
  return y;
}

Tensor BatchNorm2d::BackwardCpu(const Tensor& dy) {
  Cpu::Entry& e = cpu_->cache.Get(Describe(), cpu_->input_key, []() -> Cpu::Entry {
    throw Error(ErrorKind::kInternal, "BatchNorm2d: no primitives for the saved input's shape");
  });
  if (!cpu_->weight_grad.defined()) {
    cpu_->weight_grad = Tensor::Empty({channels_});
    cpu_->bias_grad = Tensor::Empty({channels_});
  }
  Tensor dx = cpu::EmptyIn(e.layout, input_.shape());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, cpu::Wrap(e.x, input_)},
                                          {DNNL_ARG_DIFF_DST, e.dy.In(dy)},
                                          {DNNL_ARG_MEAN, cpu::Wrap(e.c, batch_mean_)},
                                          {DNNL_ARG_VARIANCE, cpu::Wrap(e.c, batch_var_)},
                                          {DNNL_ARG_SCALE, cpu::Wrap(e.c, weight_.value)},
                                          {DNNL_ARG_SHIFT, cpu::Wrap(e.c, bias_.value)},
                                          {DNNL_ARG_DIFF_SRC, cpu::Wrap(e.x, dx)},
                                          {DNNL_ARG_DIFF_SCALE, cpu::Wrap(e.c, cpu_->weight_grad)},
                                          {DNNL_ARG_DIFF_SHIFT, cpu::Wrap(e.c, cpu_->bias_grad)}};
  if (e.workspace) args[DNNL_ARG_WORKSPACE] = e.workspace;
  cpu::Execute(Describe(), e.backward, args);
  cpu::AddInto(weight_.grad.data<float>(), cpu_->weight_grad.data<float>(), channels_);
  cpu::AddInto(bias_.grad.data<float>(), cpu_->bias_grad.data<float>(), channels_);
  return dx;
}

void BatchNorm2d::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
