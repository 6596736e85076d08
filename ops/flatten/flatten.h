// Flatten: [N, d1, d2, ...] -> [N, d1*d2*...]. A view: no copy, no arithmetic, on any device.
// Backward reshapes dy back to the last input's shape (also a view).
#pragma once

#include <string>

#include "ops/layer.h"

namespace millrace::ops {

class Flatten : public Layer {
 public:
  std::string_view kind() const override { return "Flatten"; }
  std::string Describe() const override { return "Flatten"; }
  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override;

 private:
  Shape input_shape_;
};

}  // namespace millrace::ops
