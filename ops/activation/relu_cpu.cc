// ReLU on the CPU: oneDNN eltwise forward / backward over the input in its own layout (plain, or
// the blocked layout a convolution or batch norm left it in): no conversion.
#include "ops/activation/relu.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/layout.h"

namespace millrace::ops {

using dnnl::memory;

struct ReLU::Cpu {
  struct Entry {
    memory::desc data;  // x's desc (plain ones are seen as one vector)
    std::shared_ptr<const cpu::DnnlLayout> layout;
    dnnl::eltwise_forward forward;
    dnnl::eltwise_backward backward;
    cpu::LayoutAdapter dy;  // dy into data's layout
    std::string impl;
  };
  cpu::PrimitiveCache<Entry> cache;
  std::string last_impl;

  // Key: the shape and the layout.
  static Shape Key(const Tensor& t) {
    Shape key = t.shape();
    key.push_back(cpu::LayoutKey(cpu::DescOf(t)));
    return key;
  }

  Entry& Get(const Tensor& x) {
    return cache.Get("ReLU", Key(x), [&] {
      Entry e;
      e.layout = std::dynamic_pointer_cast<const cpu::DnnlLayout>(x.shared_layout());
      e.data = e.layout ? e.layout->desc() : cpu::PlainDesc({x.numel()});
      dnnl::eltwise_forward::primitive_desc fwd(
          {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu, e.data, 0.f},
          cpu::Engine());
      e.forward = dnnl::eltwise_forward(fwd);
      dnnl::eltwise_backward::primitive_desc bwd(
          {dnnl::algorithm::eltwise_relu, e.data, e.data, 0.f}, cpu::Engine(), fwd);
      e.backward = dnnl::eltwise_backward(bwd);
      e.dy = cpu::LayoutAdapter(e.layout ? e.layout->desc() : cpu::PlainDesc(x.shape()));
      e.impl = cpu::ImplName(fwd) + " / " + cpu::ImplName(bwd);
      return e;
    });
  }
};

namespace {
// A plain tensor is wrapped as one vector; a laid-out one with its layout's desc.
memory WrapData(const memory::desc& data, const Tensor& t) {
  return t.plain() ? cpu::Wrap(data, const_cast<void*>(t.raw_data())) : cpu::Wrap(data, t);
}
}  // namespace

Tensor ReLU::ForwardCpu(const Tensor& x) {
  if (!cpu_) cpu_.reset(new Cpu());
  Cpu::Entry& e = cpu_->Get(x);
  cpu_->last_impl = e.impl;
  Tensor y = cpu::EmptyIn(e.layout, x.shape());
  cpu::Execute("ReLU", e.forward,
               {{DNNL_ARG_SRC, WrapData(e.data, x)}, {DNNL_ARG_DST, WrapData(e.data, y)}});
  return y;
}

Tensor ReLU::BackwardCpu(const Tensor& dy) {
  Cpu::Entry& e = cpu_->Get(input_);
  memory dy_data = e.dy.In(dy);
  if (!e.layout) dy_data = cpu::Wrap(e.data, dy_data.get_data_handle());
  Tensor dx = cpu::EmptyIn(e.layout, input_.shape());
  cpu::Execute("ReLU", e.backward,
               {{DNNL_ARG_SRC, WrapData(e.data, input_)},
                {DNNL_ARG_DIFF_DST, dy_data},
                {DNNL_ARG_DIFF_SRC, WrapData(e.data, dx)}});
  return dx;
}

std::string ReLU::BackendInfo() const { return cpu_ ? cpu_->last_impl : std::string(); }

void ReLU::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
