// Dropout: configuration, checks and backend dispatch.
#include "ops/activation/dropout.h"

#include <sstream>

#include "ops/checks.h"

namespace millrace::ops {

Dropout::Dropout(double p, uint64_t seed) : p_(p), rng_(seed) {
  MILLRACE_CHECK_ARG(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got " << p);
}

KernelTable<Dropout::BackendKernels>& Dropout::Kernels() {
  static KernelTable<BackendKernels> table("Dropout");
  return table;
}

std::string Dropout::Describe() const {
  std::ostringstream s;
  s << "Dropout(p=" << p_ << ")";
  return s.str();
}

Tensor Dropout::Forward(const Tensor& x, Mode mode) {
  CheckF32(x, "Dropout");
  if (mode == Mode::kEval) {
    scale_ = Tensor();
    return x.View();
  }
  return (this->*Kernels().Get(x.device()).forward)(x);
}

Tensor Dropout::Backward(const Tensor& dy) {
  CheckF32(dy, "Dropout");
  MILLRACE_CHECK_ARG(scale_.defined(), Describe() << ": Backward without a train-mode Forward");
  MILLRACE_CHECK_ARG(dy.shape() == scale_.shape(),
                     Describe() << ": gradient " << ToString(dy.shape())
                                << " does not match output " << ToString(scale_.shape()));
  CheckSameDevice(dy, scale_, "Dropout", "gradient", "mask");
  return (this->*Kernels().Get(dy.device()).backward)(dy);
}

}  // namespace millrace::ops
