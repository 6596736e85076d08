// Pooling: configuration, shape checks and backend dispatch.
#include "ops/pooling/pooling.h"

#include <sstream>
#include <utility>

#include "ops/checks.h"

namespace millrace::ops {

namespace {

std::string DescribeWindow(std::string_view name, int64_t kernel, int64_t stride, int64_t padding,
                           std::string_view extra = {}) {
  std::ostringstream s;
  s << name << "(" << kernel;
  if (stride != kernel) s << ", stride " << stride;
  if (padding != 0) s << ", padding " << padding;
  s << extra << ")";
  return s.str();
}

}  // namespace

Pool2d::Pool2d(Kind kind, int64_t kernel, int64_t stride, int64_t padding)
    : pool_kind_(kind), kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {
  if (kernel == 0) {
    stride_ = 1;
    return;
  }
  MILLRACE_CHECK_ARG(kernel > 0 && stride_ > 0 && padding >= 0,
                     "pooling: kernel and stride must be > 0 and padding >= 0, got kernel "
                         << kernel << ", stride " << stride << ", padding " << padding);
  MILLRACE_CHECK_ARG(2 * padding <= kernel, "pooling: padding "
                                                << padding << " must be at most half the kernel "
                                                << kernel);
}

Pool2d::~Pool2d() = default;

Shape Pool2d::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(input.size() == 4, Describe() << ": input " << ToString(input)
                                                   << " must be [batch, channels, height, width]");
  if (kernel_ == 0) return {input[0], input[1], 1, 1};
  const int64_t ho = (input[2] + 2 * padding_ - kernel_) / stride_ + 1;
  const int64_t wo = (input[3] + 2 * padding_ - kernel_) / stride_ + 1;
  MILLRACE_CHECK_ARG(input[2] + 2 * padding_ >= kernel_ && input[3] + 2 * padding_ >= kernel_,
                     Describe() << ": input " << ToString(input) << " is smaller than the kernel");
  return {input[0], input[1], ho, wo};
}

int64_t Pool2d::ForwardFlops(const Shape& input) const {
  if (kernel_ == 0) return NumElements(input);
  return NumElements(OutputShape(input)) * kernel_ * kernel_;
}

KernelTable<Pool2d::BackendKernels>& Pool2d::Kernels() {
  static KernelTable<BackendKernels> table("Pool2d");
  return table;
}

Tensor Pool2d::Forward(const Tensor& x, Mode mode) {
  CheckF32(x, kind());
  OutputShape(x.shape());
  Tensor y = (this->*Kernels().Get(x.device(), kind()).forward)(x, mode);
  if (mode == Mode::kTrain) input_device_ = x.device();
  return LayoutScope::Finish(std::move(y));
}

Tensor Pool2d::Backward(const Tensor& dy) {
  CheckF32(dy, kind());
  MILLRACE_CHECK_ARG(!input_shape_.empty(), Describe()
                                                << ": Backward without a train-mode Forward");
  const Shape expected = OutputShape(input_shape_);
  MILLRACE_CHECK_ARG(dy.shape() == expected, Describe() << ": gradient " << ToString(dy.shape())
                                                        << " does not match output "
                                                        << ToString(expected));
  MILLRACE_CHECK_ARG(dy.device() == input_device_,
                     Describe() << ": gradient on " << dy.device().ToString() << ", input on "
                                << input_device_.ToString());
  return LayoutScope::Finish((this->*Kernels().Get(dy.device(), kind()).backward)(dy));
}

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : Pool2d(Kind::kMax, kernel, stride, padding) {
  MILLRACE_CHECK_ARG(kernel > 0, "MaxPool2d: kernel must be > 0, got " << kernel);
}

std::string MaxPool2d::Describe() const {
  return DescribeWindow("MaxPool2d", kernel(), stride(), padding());
}

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad)
    : Pool2d(count_include_pad ? Kind::kAvgIncludePad : Kind::kAvgExcludePad, kernel, stride,
             padding) {
  MILLRACE_CHECK_ARG(kernel > 0, "AvgPool2d: kernel must be > 0, got " << kernel);
}

std::string AvgPool2d::Describe() const {
  return DescribeWindow("AvgPool2d", kernel(), stride(), padding());
}

GlobalAvgPool::GlobalAvgPool() : Pool2d(Kind::kAvgIncludePad, 0, 0, 0) {}

}  // namespace millrace::ops
