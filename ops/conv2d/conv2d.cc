// Conv2d: configuration, shape checks, initialisation and backend dispatch.
#include "ops/conv2d/conv2d.h"

#include <cmath>
#include <sstream>

#include "ops/activation/relu.h"
#include "ops/checks.h"
#include "ops/init.h"

namespace millrace::ops {

Conv2d::Conv2d(const Conv2dConfig& config, uint64_t seed) : config_(config) {
  const Conv2dConfig& c = config_;
  MILLRACE_CHECK_ARG(c.in_channels > 0 && c.out_channels > 0 && c.kernel_h > 0 && c.kernel_w > 0 &&
                         c.stride > 0 && c.padding >= 0 && c.dilation > 0 && c.groups > 0,
                     "Conv2d: channels, kernel, stride, dilation and groups must be > 0 and "
                     "padding >= 0, got "
                         << Describe());
  MILLRACE_CHECK_ARG(c.in_channels % c.groups == 0 && c.out_channels % c.groups == 0,
                     "Conv2d: groups " << c.groups << " must divide in_channels " << c.in_channels
                                       << " and out_channels " << c.out_channels);
  const int64_t fan_in = c.in_channels / c.groups * c.kernel_h * c.kernel_w;
  weight_ =
      MakeParameter("weight", {c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w},
                    /*decay=*/true);
  Rng rng(seed);
  KaimingUniform(weight_.value, fan_in, rng, /*gain=*/1.0 / std::sqrt(3.0));
  if (c.bias) {
    bias_ = MakeParameter("bias", {c.out_channels}, /*decay=*/false);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    UniformFill(bias_.value, -bound, bound, rng);
  }
}

Conv2d::~Conv2d() = default;

std::string Conv2d::Describe() const {
  const Conv2dConfig& c = config_;
  std::ostringstream s;
  s << "Conv2d(" << c.in_channels << " -> " << c.out_channels << ", " << c.kernel_h << "x"
    << c.kernel_w;
  if (c.stride != 1) s << ", stride " << c.stride;
  if (c.padding != 0) s << ", padding " << c.padding;
  if (c.dilation != 1) s << ", dilation " << c.dilation;
  if (c.groups != 1) s << ", groups " << c.groups;
  if (!c.bias) s << ", no bias";
  s << ")";
  return s.str();
}

Shape Conv2d::OutputShape(const Shape& input) const {
  const Conv2dConfig& c = config_;
  MILLRACE_CHECK_ARG(input.size() == 4, Describe() << ": input " << ToString(input)
                                                   << " must be [batch, channels, height, width]");
  MILLRACE_CHECK_ARG(input[1] == c.in_channels,
                     Describe() << ": input " << ToString(input) << " has " << input[1]
                                << " channels, expected " << c.in_channels);
  const int64_t ho = (input[2] + 2 * c.padding - c.dilation * (c.kernel_h - 1) - 1) / c.stride + 1;
  const int64_t wo = (input[3] + 2 * c.padding - c.dilation * (c.kernel_w - 1) - 1) / c.stride + 1;
  MILLRACE_CHECK_ARG(ho > 0 && wo > 0,
                     Describe() << ": input " << ToString(input) << " is smaller than the kernel");
  return {input[0], c.out_channels, ho, wo};
}

int64_t Conv2d::ForwardFlops(const Shape& input) const {
  const Shape out = OutputShape(input);
  const Conv2dConfig& c = config_;
  return 2 * out[0] * out[1] * out[2] * out[3] * (c.in_channels / c.groups) * c.kernel_h *
         c.kernel_w;
}

std::vector<Parameter*> Conv2d::Parameters() {
  if (config_.bias) return {&weight_, &bias_};
  return {&weight_};
}

bool Conv2d::FuseNext(const Layer* next) {
  fused_relu_ = dynamic_cast<const ReLU*>(next) != nullptr;
  return fused_relu_;
}

KernelTable<Conv2d::BackendKernels>& Conv2d::Kernels() {
  static KernelTable<BackendKernels> table("Conv2d");
  return table;
}

Tensor Conv2d::Forward(const Tensor& x, Mode mode) {
  CheckF32(x, "Conv2d");
  OutputShape(x.shape());
  return LayoutScope::Finish((this->*Kernels().Get(x.device()).forward)(x, mode));
}

Tensor Conv2d::Backward(const Tensor& dy) {
  CheckF32(dy, "Conv2d");
  MILLRACE_CHECK_ARG(input_.defined(), Describe() << ": Backward without a train-mode Forward");
  const Shape expected = OutputShape(input_.shape());
  MILLRACE_CHECK_ARG(dy.shape() == expected, Describe() << ": gradient " << ToString(dy.shape())
                                                        << " does not match output "
                                                        << ToString(expected));
  CheckSameDevice(dy, input_, "Conv2d");
  return LayoutScope::Finish((this->*Kernels().Get(dy.device()).backward)(dy));
}

}  // namespace millrace::ops
