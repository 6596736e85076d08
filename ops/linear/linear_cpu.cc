// Linear on the CPU: three oneDNN matmuls per input shape, created once and cached.
//   forward:          y[N,O]  = x[N,I] . W^T[I,O] + b      (W read through transposed strides)
//   backward data:    dx[N,I] = dy[N,O] . W[O,I]          (only when input_grad())
//   backward weights: dW[O,I] += dy^T[O,N] . x[N,I]     (sum post-op: adds into the grad)
//   backward bias:    db[o] += sum_n dy[n,o]            (a loop in a fixed order)
// All memory is the tensors' own (plain row-major): no reorders. A fused ReLU runs in place on
// y right after the matmul, while y is in cache (oneDNN 2.6's eltwise post-op on its gemm-based
// matmul took longer than that pass: docs/BENCHMARKS.md "Second round"); the backward masks dy with
// y > 0 and runs the two matmuls on the masked gradient. Both compute x > 0 ? x : 0, the bits of
// oneDNN's ReLU (tested against the ReLU layer).
#include <unordered_map>

#include "ops/cpu/dnnl_context.h"
#include "ops/linear/linear.h"

namespace millrace::ops {

using dnnl::memory;

struct Linear::Cpu {
  struct Entry {
    memory::desc x, w_t, b, y, dy, w, dx, dy_t, dw;
    dnnl::matmul forward, backward_data, backward_weights;
  };
  cpu::PrimitiveCache<Entry> cache;
  Shape key;      // of the last train-mode Forward
  Tensor masked;  // dy with a fused ReLU's mask applied, reused while the shape holds
};

Tensor Linear::ForwardCpu(const Tensor& x, Mode mode) {
  if (!cpu_) cpu_.reset(new Cpu());
  const int64_t n = x.dim(0);
  const Shape& key = x.shape();
  Cpu::Entry& e = cpu_->cache.Get(Describe(), key, [&] {
    Cpu::Entry e;
    const memory::data_type f32 = memory::data_type::f32;
    e.x = cpu::PlainDesc({n, in_});
    e.w_t = memory::desc({in_, out_}, f32, {1, in_});  // W [O,I] seen as [I,O]
    e.b = memory::desc({1, out_}, f32, {out_, 1});
    e.y = cpu::PlainDesc({n, out_});
    e.dy = e.y;
    e.w = cpu::PlainDesc({out_, in_});
    e.dx = e.x;
    e.dy_t = memory::desc({out_, n}, f32, {1, out_});  // dy [N,O] seen as [O,N]
    e.dw = e.w;
    const auto& engine = cpu::Engine();
    if (has_bias()) {
      e.forward = dnnl::matmul(dnnl::matmul::primitive_desc({e.x, e.w_t, e.b, e.y}, engine));
    } else {
      e.forward = dnnl::matmul(dnnl::matmul::primitive_desc({e.x, e.w_t, e.y}, engine));
    }
    e.backward_data = dnnl::matmul(dnnl::matmul::primitive_desc({e.dy, e.w, e.dx}, engine));
    dnnl::post_ops accumulate;
    accumulate.append_sum(1.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(accumulate);
    e.backward_weights =
        dnnl::matmul(dnnl::matmul::primitive_desc({e.dy_t, e.x, e.dw}, attr, engine));
    return e;
  });
  Tensor y = Tensor::Empty({n, out_});
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, cpu::Wrap(e.x, x)},
                                          {DNNL_ARG_WEIGHTS, cpu::Wrap(e.w_t, weight_.value)},
                                          {DNNL_ARG_DST, cpu::Wrap(e.y, y)}};
  if (has_bias()) args[DNNL_ARG_BIAS] = cpu::Wrap(e.b, bias_.value);
  cpu::Execute(Describe(), e.forward, args);
  if (fused_relu_) {
    float* __restrict v = y.data<float>();
    for (int64_t i = 0, count = y.numel(); i < count; ++i) v[i] = v[i] > 0 ? v[i] : 0.0f;
  }
  if (mode == Mode::kTrain) {
    input_ = x.View();
    output_ = fused_relu_ ? y.View() : Tensor();
    cpu_->key = key;
  } else {
    input_ = Tensor();
    output_ = Tensor();
  }
  return y;
}

Tensor Linear::BackwardCpu(const Tensor& dy_in) {
  const int64_t n = input_.dim(0);
  Cpu::Entry& e = cpu_->cache.Get(Describe(), cpu_->key, []() -> Cpu::Entry {
    MILLRACE_THROW(ErrorKind::kInternal, "Linear: no primitives for the saved input's shape");
  });
  // With a fused ReLU the gradient at the matmul's output is dy masked by y > 0.
  const Tensor* dy = &dy_in;
  if (output_.defined()) {
    if (cpu_->masked.shape() != dy_in.shape()) cpu_->masked = Tensor::Empty(dy_in.shape());
    float* __restrict m = cpu_->masked.data<float>();
    const float* __restrict g = dy_in.data<float>();
    const float* __restrict y = output_.data<float>();
    for (int64_t i = 0, count = dy_in.numel(); i < count; ++i) {
      const float grad = g[i];  // read unconditionally: a select, not a branch (vectorized)
      m[i] = y[i] > 0 ? grad : 0.0f;
    }
    dy = &cpu_->masked;
  }
  if (has_bias()) {  // the batch's sum in a fixed order
    float* __restrict db = bias_.grad.data<float>();
    const float* __restrict g = dy->data<float>();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t o = 0; o < out_; ++o) db[o] += g[i * out_ + o];
    }
  }
  Tensor dx;
  if (input_grad()) {
    dx = Tensor::Empty({n, in_});
    cpu::Execute(Describe(), e.backward_data,
                 {{DNNL_ARG_SRC, cpu::Wrap(e.dy, *dy)},
                  {DNNL_ARG_WEIGHTS, cpu::Wrap(e.w, weight_.value)},
                  {DNNL_ARG_DST, cpu::Wrap(e.dx, dx)}});
  }
  cpu::Execute(Describe(), e.backward_weights,
               {{DNNL_ARG_SRC, cpu::Wrap(e.dy_t, *dy)},
                {DNNL_ARG_WEIGHTS, cpu::Wrap(e.x, input_)},
                {DNNL_ARG_DST, cpu::Wrap(e.dw, weight_.grad)}});
  return dx;
}

void Linear::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
