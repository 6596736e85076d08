// Linear: configuration, shape checks, initialisation and backend dispatch.
#include "ops/linear/linear.h"

#include <cmath>
#include <sstream>

#include "ops/activation/relu.h"
#include "ops/checks.h"
#include "ops/init.h"

namespace millrace::ops {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed)
    : in_(in_features), out_(out_features) {
  MILLRACE_CHECK_ARG(in_features > 0 && out_features > 0,
                     "Linear: features must be > 0, got " << in_features << " -> " << out_features);
  weight_ = MakeParameter("weight", {out_, in_}, /*decay=*/true);
  Rng rng(seed);
  // torch.nn.Linear: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); bias the same.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
  UniformFill(weight_.value, -bound, bound, rng);
  if (bias) {
    bias_ = MakeParameter("bias", {out_}, /*decay=*/false);
    UniformFill(bias_.value, -bound, bound, rng);
  }
}

Linear::~Linear() = default;

std::string Linear::Describe() const {
  std::ostringstream s;
  s << "Linear(" << in_ << " -> " << out_ << (has_bias() ? "" : ", no bias") << ")";
  return s.str();
}

Shape Linear::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(input.size() == 2,
                     Describe() << ": input " << ToString(input) << " must be [batch, features]");
  MILLRACE_CHECK_ARG(input[1] == in_, Describe() << ": input " << ToString(input) << " has "
                                                 << input[1] << " features, expected " << in_);
  return {input[0], out_};
}

int64_t Linear::ForwardFlops(const Shape& input) const {
  return 2 * OutputShape(input)[0] * in_ * out_;
}

std::vector<Parameter*> Linear::Parameters() {
  if (has_bias()) return {&weight_, &bias_};
  return {&weight_};
}

KernelTable<Linear::BackendKernels>& Linear::Kernels() {
  static KernelTable<BackendKernels> table("Linear");
  return table;
}

bool Linear::FuseNext(const Layer* next) {
  fused_relu_ = dynamic_cast<const ReLU*>(next) != nullptr;
  return fused_relu_;
}

Tensor Linear::Forward(const Tensor& x, Mode mode) {
  CheckF32(x, "Linear");
  OutputShape(x.shape());
  return (this->*Kernels().Get(x.device()).forward)(x, mode);
}

Tensor Linear::Backward(const Tensor& dy) {
  CheckF32(dy, "Linear");
  MILLRACE_CHECK_ARG(input_.defined(), Describe() << ": Backward without a train-mode Forward");
  const Shape expected = {input_.dim(0), out_};
  MILLRACE_CHECK_ARG(dy.shape() == expected, Describe() << ": gradient " << ToString(dy.shape())
                                                        << " does not match output "
                                                        << ToString(expected));
  CheckSameDevice(dy, input_, "Linear");
  return (this->*Kernels().Get(dy.device()).backward)(dy);
}

}  // namespace millrace::ops
