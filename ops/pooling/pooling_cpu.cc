// Pooling on the CPU: oneDNN pooling forward / backward per input shape and layout, cached. x
// is taken in its own layout (nChw8c after a blocked convolution: oneDNN's jit kernels; plain
// nchw: its simple_nchw kernel, several times slower) and y is written in the layout oneDNN
// picks for it (the same blocking). Max pooling runs millrace's own loops (max_pool_cpu.h:
// oneDNN's with a workspace run at a fifth of memory speed) whenever x's and y's layouts are
// ones they take, which covers every layout the convolutions produce; it keeps the argmax in
// the cache entry for the backward. Average pooling stays with oneDNN.
#include <optional>
#include <unordered_map>
#include <vector>

#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/layout.h"
#include "ops/pooling/max_pool_cpu.h"
#include "ops/pooling/pooling.h"

namespace millrace::ops {

using dnnl::memory;

struct Pool2d::Cpu {
  struct Entry {
    memory::desc x, y;
    std::shared_ptr<const cpu::DnnlLayout> x_layout, y_layout;  // null: plain
    dnnl::pooling_forward train, infer;
    dnnl::pooling_backward backward;
    dnnl::memory workspace;  // max pooling by oneDNN only
    cpu::LayoutAdapter dy;   // dy into y's layout
    std::string impl;
    // Max pooling by millrace's loops: x's and y's geometry, the window, the argmax.
    std::optional<cpu::ActivationGeometry> gx, gy;
    cpu::MaxPoolWindow window;
    std::vector<int32_t> argmax;
  };
  cpu::PrimitiveCache<Entry> cache;
};

Tensor Pool2d::ForwardCpu(const Tensor& x, Mode mode) {
  if (!cpu_) cpu_.reset(new Cpu());
  const Shape y_shape = OutputShape(x.shape());
  Shape key = x.shape();
  key.push_back(cpu::LayoutKey(cpu::DescOf(x)));
  Cpu::Entry& e = cpu_->cache.Get(Describe(), key, [&] {
    Cpu::Entry e;
    e.x = cpu::DescOf(x);
    const memory::desc y_any(cpu::Dims(y_shape), memory::data_type::f32, memory::format_tag::any);
    const int64_t kh = kernel_ == 0 ? x.dim(2) : kernel_;
    const int64_t kw = kernel_ == 0 ? x.dim(3) : kernel_;
    const memory::dims strides = {stride_, stride_}, kernel = {kh, kw};
    const memory::dims padding = {padding_, padding_};
    // Right padding that gives exactly the floor output size (may be below `padding`).
    const memory::dims padding_r = {(y_shape[2] - 1) * stride_ + kh - x.dim(2) - padding_,
                                    (y_shape[3] - 1) * stride_ + kw - x.dim(3) - padding_};
    const dnnl::algorithm alg = pool_kind_ == Kind::kMax ? dnnl::algorithm::pooling_max
                                : pool_kind_ == Kind::kAvgIncludePad
                                    ? dnnl::algorithm::pooling_avg_include_padding
                                    : dnnl::algorithm::pooling_avg_exclude_padding;
    const auto& engine = cpu::Engine();
    dnnl::pooling_forward::primitive_desc train(
        {dnnl::prop_kind::forward_training, alg, e.x, y_any, strides, kernel, padding, padding_r},
        engine);
    e.y = train.dst_desc();
    dnnl::pooling_forward::primitive_desc infer(
        {dnnl::prop_kind::forward_inference, alg, e.x, e.y, strides, kernel, padding, padding_r},
        engine);
    dnnl::pooling_backward::primitive_desc backward(
        {alg, e.x, e.y, strides, kernel, padding, padding_r}, engine, train);
    e.x_layout = cpu::MakeLayout(e.x);
    e.y_layout = cpu::MakeLayout(e.y);
    e.dy = cpu::LayoutAdapter(backward.diff_dst_desc());
    if (pool_kind_ == Kind::kMax) {
      e.gx = cpu::GeometryOf(e.x);
      e.gy = cpu::GeometryOf(e.y);
      if (e.gx && e.gy && e.gx->block == e.gy->block && e.gx->blocks == e.gy->blocks &&
          e.gx->n == e.gy->n) {
        e.window = {kernel_, stride_, padding_};
        e.impl = "millrace:max_pool " + cpu::LayoutName(e.x);
        e.impl += " / " + e.impl;
        return e;
      }
      e.gx.reset();
    }
    e.train = dnnl::pooling_forward(train);
    e.infer = dnnl::pooling_forward(infer);
    e.backward = dnnl::pooling_backward(backward);
    if (pool_kind_ == Kind::kMax) e.workspace = dnnl::memory(train.workspace_desc(), engine);
    e.impl = cpu::ImplName(train) + " / " + cpu::ImplName(backward);
    return e;
  });
  backend_info_ = e.impl;
  Tensor y = cpu::EmptyIn(e.y_layout, y_shape);
  if (e.gx) {
    int32_t* argmax = nullptr;
    if (mode != Mode::kEval) {
      e.argmax.resize(e.gx->n * e.gx->blocks * e.gy->h * e.gy->w * e.gx->block);
      argmax = e.argmax.data();
    }
    cpu::MaxPoolForward(static_cast<const float*>(cpu::Wrap(e.x, x).get_data_handle()), *e.gx,
                        static_cast<float*>(cpu::Wrap(e.y, y).get_data_handle()), *e.gy, argmax,
                        e.window);
    if (mode == Mode::kEval) {
      input_shape_.clear();
    } else {
      input_shape_ = x.shape();
      input_key_ = std::move(key);
    }
    return y;
  }
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, cpu::Wrap(e.x, x)},
                                          {DNNL_ARG_DST, cpu::Wrap(e.y, y)}};
  if (mode == Mode::kEval) {
    cpu::Execute(Describe(), e.infer, args);
    input_shape_.clear();
    return y;
  }
  if (pool_kind_ == Kind::kMax) args[DNNL_ARG_WORKSPACE] = e.workspace;
  cpu::Execute(Describe(), e.train, args);
  input_shape_ = x.shape();
  input_key_ = std::move(key);
  return y;
}

Tensor Pool2d::BackwardCpu(const Tensor& dy) {
  Cpu::Entry& e = cpu_->cache.Get(Describe(), input_key_, []() -> Cpu::Entry {
    throw Error(ErrorKind::kInternal, "pooling: no primitives for the saved input's shape");
  });
  Tensor dx = cpu::EmptyIn(e.x_layout, input_shape_);
  if (e.gx) {
    const dnnl::memory g = e.dy.In(dy);
    cpu::MaxPoolBackward(static_cast<const float*>(g.get_data_handle()), *e.gy, e.argmax.data(),
                         static_cast<float*>(cpu::Wrap(e.x, dx).get_data_handle()), *e.gx,
                         e.window);
    return dx;
  }
  std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, e.dy.In(dy)},
                                          {DNNL_ARG_DIFF_SRC, cpu::Wrap(e.x, dx)}};
  if (pool_kind_ == Kind::kMax) args[DNNL_ARG_WORKSPACE] = e.workspace;
  cpu::Execute(Describe(), e.backward, args);
  return dx;
}

void Pool2d::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
