// Dropout with inverted scaling: in kTrain mode each element is kept with probability 1 - p
// and scaled by 1 / (1 - p), so kEval is the identity. The keep/drop draws come from the
// layer's own Rng(seed): the same seed and the same sequence of calls give the same masks.
// Backward: dx = dy * scale (the last train-mode Forward's mask).
#pragma once

#include <cstdint>
#include <string>

#include "ops/init.h"
#include "ops/layer.h"

namespace millrace::ops {

class Dropout : public Layer {
 public:
  // 0 <= p < 1.
  explicit Dropout(double p, uint64_t seed = 0);

  std::string_view kind() const override { return "Dropout"; }
  std::string Describe() const override;  // "Dropout(p=0.5)"
  // kTrain: a new mask per call. kEval: returns a view of x.
  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  Shape OutputShape(const Shape& input) const override { return input; }

  double p() const { return p_; }
  // The random stream (checkpoint its engine() to resume the same masks).
  Rng& rng() { return rng_; }

 private:
  double p_;
  Rng rng_;
  Tensor scale_;  // 0 or 1/(1-p) per element of the last train-mode Forward
};

}  // namespace millrace::ops
