// BatchNorm2d: configuration, shape checks and backend dispatch.
#include "ops/batchnorm/batchnorm.h"

#include <sstream>

#include "ops/activation/relu.h"
#include "ops/checks.h"

namespace millrace::ops {

BatchNorm2d::BatchNorm2d(int64_t channels, double momentum, double eps)
    : channels_(channels), momentum_(momentum), eps_(eps) {
  MILLRACE_CHECK_ARG(channels > 0, "BatchNorm2d: channels must be > 0, got " << channels);
  MILLRACE_CHECK_ARG(momentum >= 0 && momentum <= 1,
                     "BatchNorm2d: momentum must be in [0, 1], got " << momentum);
  MILLRACE_CHECK_ARG(eps > 0, "BatchNorm2d: eps must be > 0, got " << eps);
  weight_ = MakeParameter("weight", {channels}, /*decay=*/false);
  weight_.value.Fill(1.f);
  bias_ = MakeParameter("bias", {channels}, /*decay=*/false);
  bias_.value.Fill(0.f);
  running_mean_ = Tensor::Zeros({channels});
  running_var_ = Tensor::Empty({channels});
  running_var_.Fill(1.f);
}

BatchNorm2d::~BatchNorm2d() = default;

std::string BatchNorm2d::Describe() const {
  std::ostringstream s;
  s << "BatchNorm2d(" << channels_ << ")";
  return s.str();
}

std::vector<std::pair<std::string, Tensor*>> BatchNorm2d::Buffers() {
  return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
}

Shape BatchNorm2d::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(input.size() == 4, Describe() << ": input " << ToString(input)
                                                   << " must be [batch, channels, height, width]");
  MILLRACE_CHECK_ARG(input[1] == channels_, Describe()
                                                << ": input " << ToString(input) << " has "
                                                << input[1] << " channels, expected " << channels_);
  return input;
}

bool BatchNorm2d::FuseNext(const Layer* next) {
  fused_relu_ = dynamic_cast<const ReLU*>(next) != nullptr;
  return fused_relu_;
}

KernelTable<BatchNorm2d::BackendKernels>& BatchNorm2d::Kernels() {
  static KernelTable<BackendKernels> table("BatchNorm2d");
  return table;
}

Tensor BatchNorm2d::Forward(const Tensor& x, Mode mode) {
  CheckF32(x, "BatchNorm2d");
  OutputShape(x.shape());
  if (mode == Mode::kTrain) {
    MILLRACE_CHECK_ARG(x.numel() / channels_ > 1,
                       Describe() << ": training needs more than one value per channel, input "
                                  << ToString(x.shape()));
  }
  return LayoutScope::Finish((this->*Kernels().Get(x.device()).forward)(x, mode));
}

Tensor BatchNorm2d::Backward(const Tensor& dy) {
  CheckF32(dy, "BatchNorm2d");
  MILLRACE_CHECK_ARG(input_.defined(), Describe() << ": Backward without a train-mode Forward");
  MILLRACE_CHECK_ARG(dy.shape() == input_.shape(),
                     Describe() << ": gradient " << ToString(dy.shape())
                                << " does not match output " << ToString(input_.shape()));
  CheckSameDevice(dy, input_, "BatchNorm2d");
  return LayoutScope::Finish((this->*Kernels().Get(dy.device()).backward)(dy));
}

}  // namespace millrace::ops
