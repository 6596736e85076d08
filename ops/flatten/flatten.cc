#include "ops/flatten/flatten.h"

namespace millrace::ops {

Shape Flatten::OutputShape(const Shape& input) const {
  MILLRACE_CHECK_ARG(!input.empty(),
                     "Flatten: input must have a batch dimension, got " << ToString(input));
  int64_t features = 1;
  for (size_t i = 1; i < input.size(); ++i) features *= input[i];
  return {input[0], features};
}

Tensor Flatten::Forward(const Tensor& x, Mode mode) {
  MILLRACE_CHECK_ARG(x.defined(), "Flatten: input is an undefined tensor");
  input_shape_ = x.shape();
  return x.Reshape(OutputShape(x.shape()));
}

Tensor Flatten::Backward(const Tensor& dy) {
  MILLRACE_CHECK_ARG(!input_shape_.empty(), "Flatten: Backward without a Forward");
  MILLRACE_CHECK_ARG(dy.shape() == OutputShape(input_shape_),
                     "Flatten: gradient " << ToString(dy.shape()) << " does not match output "
                                          << ToString(OutputShape(input_shape_)));
  return dy.Reshape(input_shape_);
}

}  // namespace millrace::ops
