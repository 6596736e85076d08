#include "ops/activation/relu.h"

#include "ops/cpu/dnnl_context.h"

namespace millrace::ops {

ReLU::ReLU() = default;
ReLU::~ReLU() = default;

Shape ReLU::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(!input.empty(),
                     "ReLU: input must have a batch dimension, got " << ToString(input));
  return input;
}

Tensor ReLU::Forward(const Tensor& x, Mode mode) {
  cpu::CheckCpuF32(x, "ReLU");
  OutputShape(x.shape());
  Tensor y = ForwardCpu(x);
  input_ = mode == Mode::kTrain ? x.View() : Tensor();
  return y;
}

Tensor ReLU::Backward(const Tensor& dy) {
  cpu::CheckCpuF32(dy, "ReLU");
  MILLRACE_CHECK_ARG(input_.defined(), "ReLU: Backward without a train-mode Forward");
  MILLRACE_CHECK_ARG(dy.shape() == input_.shape(), "ReLU: gradient " << ToString(dy.shape())
                                                                     << " does not match output "
                                                                     << ToString(input_.shape()));
  return BackwardCpu(dy);
}

}  // namespace millrace::ops
