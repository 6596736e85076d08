#include "ops/activation/relu.h"

#include "ops/checks.h"

namespace millrace::ops {

ReLU::ReLU() = default;
ReLU::~ReLU() = default;

KernelTable<ReLU::BackendKernels>& ReLU::Kernels() {
  static KernelTable<BackendKernels> table("ReLU");
  return table;
}

Shape ReLU::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(!input.empty(),
                     "ReLU: input must have a batch dimension, got " << ToString(input));
  return input;
}

Tensor ReLU::Forward(const Tensor& x, Mode mode) {
  CheckF32(x, "ReLU");
  OutputShape(x.shape());
  Tensor y = LayoutScope::Finish((this->*Kernels().Get(x.device()).forward)(x));
  input_ = mode == Mode::kTrain ? x.View() : Tensor();
  return y;
}

Tensor ReLU::Backward(const Tensor& dy) {
  CheckF32(dy, "ReLU");
  MILLRACE_CHECK_ARG(input_.defined(), "ReLU: Backward without a train-mode Forward");
  MILLRACE_CHECK_ARG(dy.shape() == input_.shape(), "ReLU: gradient " << ToString(dy.shape())
                                                                     << " does not match output "
                                                                     << ToString(input_.shape()));
  CheckSameDevice(dy, input_, "ReLU");
  return LayoutScope::Finish((this->*Kernels().Get(dy.device()).backward)(dy));
}

}  // namespace millrace::ops
