// ReLU on the CPU: oneDNN eltwise forward / backward over the elements seen as one vector.
#include "ops/activation/relu.h"
#include "ops/cpu/dnnl_context.h"

namespace millrace::ops {

using dnnl::memory;

struct ReLU::Cpu {
  struct Entry {
    memory::desc data;
    dnnl::eltwise_forward forward;
    dnnl::eltwise_backward backward;
    std::string impl;
  };
  cpu::PrimitiveCache<Entry> cache;
  std::string last_impl;

  Entry& Get(int64_t numel) {
    return cache.Get("ReLU", {numel}, [&] {
      Entry e;
      e.data = cpu::PlainDesc({numel});
      dnnl::eltwise_forward::primitive_desc fwd(
          {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu, e.data, 0.f},
          cpu::Engine());
      e.forward = dnnl::eltwise_forward(fwd);
      dnnl::eltwise_backward::primitive_desc bwd(
          {dnnl::algorithm::eltwise_relu, e.data, e.data, 0.f}, cpu::Engine(), fwd);
      e.backward = dnnl::eltwise_backward(bwd);
      e.impl = cpu::ImplName(fwd) + " / " + cpu::ImplName(bwd);
      return e;
    });
  }
};

Tensor ReLU::ForwardCpu(const Tensor& x) {
  if (!cpu_) cpu_.reset(new Cpu());
  Cpu::Entry& e = cpu_->Get(x.numel());
  cpu_->last_impl = e.impl;
  Tensor y = Tensor::Empty(x.shape());
  cpu::Execute("ReLU", e.forward,
               {{DNNL_ARG_SRC, cpu::Wrap(e.data, x)}, {DNNL_ARG_DST, cpu::Wrap(e.data, y)}});
  return y;
}

Tensor ReLU::BackwardCpu(const Tensor& dy) {
  Cpu::Entry& e = cpu_->Get(dy.numel());
  Tensor dx = Tensor::Empty(dy.shape());
  cpu::Execute("ReLU", e.backward,
               {{DNNL_ARG_SRC, cpu::Wrap(e.data, input_)},
                {DNNL_ARG_DIFF_DST, cpu::Wrap(e.data, dy)},
                {DNNL_ARG_DIFF_SRC, cpu::Wrap(e.data, dx)}});
  return dx;
}

std::string ReLU::BackendInfo() const { return cpu_ ? cpu_->last_impl : std::string(); }

void ReLU::CpuDeleter::operator()(Cpu* cpu) const noexcept { delete cpu; }

}  // namespace millrace::ops
