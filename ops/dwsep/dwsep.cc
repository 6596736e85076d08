#include "ops/dwsep/dwsep.h"

#include <sstream>

#include "ops/activation/relu.h"
#include "ops/init.h"

namespace millrace::ops {

namespace {

Conv2dConfig DepthwiseConfig(const DepthwiseSeparableConfig& c) {
  return {.in_channels = c.in_channels,
          .out_channels = c.in_channels,
          .kernel_h = 3,
          .kernel_w = 3,
          .stride = c.stride,
          .padding = 1,
          .groups = c.in_channels,
          .bias = !c.batch_norm};
}

Conv2dConfig PointwiseConfig(const DepthwiseSeparableConfig& c) {
  return {.in_channels = c.in_channels,
          .out_channels = c.out_channels,
          .kernel_h = 1,
          .kernel_w = 1,
          .bias = !c.batch_norm};
}

}  // namespace

DepthwiseSeparable::DepthwiseSeparable(const DepthwiseSeparableConfig& config, uint64_t seed)
    : DepthwiseSeparable(
          std::make_unique<Conv2d>(DepthwiseConfig(config), DeriveSeed(seed, 0)),
          config.batch_norm ? std::make_unique<BatchNorm2d>(config.in_channels) : nullptr,
          std::make_unique<Conv2d>(PointwiseConfig(config), DeriveSeed(seed, 1)),
          config.batch_norm ? std::make_unique<BatchNorm2d>(config.out_channels) : nullptr) {}

DepthwiseSeparable::DepthwiseSeparable(std::unique_ptr<Conv2d> depthwise,
                                       std::unique_ptr<BatchNorm2d> bn1,
                                       std::unique_ptr<Conv2d> pointwise,
                                       std::unique_ptr<BatchNorm2d> bn2) {
  MILLRACE_CHECK_ARG(depthwise && pointwise, "DepthwiseSeparable: both convolutions are needed");
  const Conv2dConfig& dw = depthwise->config();
  const Conv2dConfig& pw = pointwise->config();
  MILLRACE_CHECK_ARG(
      dw.groups == dw.in_channels && dw.out_channels == dw.in_channels && dw.kernel_h == 3 &&
          dw.kernel_w == 3 && dw.padding == 1 && dw.dilation == 1,
      "DepthwiseSeparable: " << depthwise->Describe() << " is not a depthwise 3x3 convolution");
  MILLRACE_CHECK_ARG(pw.kernel_h == 1 && pw.kernel_w == 1 && pw.stride == 1 && pw.groups == 1 &&
                         pw.padding == 0 && pw.in_channels == dw.out_channels,
                     "DepthwiseSeparable: " << pointwise->Describe()
                                            << " is not a pointwise convolution over "
                                            << dw.out_channels << " channels");
  MILLRACE_CHECK_ARG((bn1 == nullptr) == (bn2 == nullptr),
                     "DepthwiseSeparable: give both batch norms or neither");
  config_ = {.in_channels = dw.in_channels,
             .out_channels = pw.out_channels,
             .stride = dw.stride,
             .batch_norm = bn1 != nullptr};
  if (bn1) {
    MILLRACE_CHECK_ARG(bn1->channels() == dw.out_channels && bn2->channels() == pw.out_channels,
                       "DepthwiseSeparable: " << bn1->Describe() << " and " << bn2->Describe()
                                              << " do not match " << dw.out_channels << " and "
                                              << pw.out_channels << " channels");
  }
  parts_.Add("dw", std::move(depthwise));
  if (bn1) parts_.Add("bn1", std::move(bn1));
  parts_.Add("relu1", std::make_unique<ReLU>());
  pointwise_index_ = parts_.size();
  parts_.Add("pw", std::move(pointwise));
  if (bn2) parts_.Add("bn2", std::move(bn2));
  parts_.Add("relu2", std::make_unique<ReLU>());
}

std::string DepthwiseSeparable::Describe() const {
  std::ostringstream s;
  s << "DepthwiseSeparable(" << config_.in_channels << " -> " << config_.out_channels;
  if (config_.stride != 1) s << ", stride " << config_.stride;
  if (!config_.batch_norm) s << ", no batch norm";
  s << ")";
  return s.str();
}

Shape DepthwiseSeparable::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(input.size() == 4, Describe() << ": input " << ToString(input)
                                                   << " must be [batch, channels, height, width]");
  MILLRACE_CHECK_ARG(input[1] == config_.in_channels,
                     Describe() << ": input " << ToString(input) << " has " << input[1]
                                << " channels, expected " << config_.in_channels);
  return parts_.OutputShape(input);
}

Tensor DepthwiseSeparable::Forward(const Tensor& x, Mode mode) {
  OutputShape(x.shape());
  return LayoutScope::Finish(parts_.ForwardInLayout(x, mode));
}

Tensor DepthwiseSeparable::Backward(const Tensor& dy) {
  return LayoutScope::Finish(parts_.BackwardInLayout(dy));
}

}  // namespace millrace::ops
