// SGD with momentum, Nesterov momentum and L2 weight decay, with torch.optim.SGD's semantics:
//   g = grad + weight_decay * w                        (parameters with decay = true)
//   b = g on the first step, then momentum * b + (1 - dampening) * g
//   g = nesterov ? g + momentum * b : b                (when momentum != 0)
//   w = w - lr * g
// Parameter::decay = false is a torch parameter group with weight_decay 0 (biases, BatchNorm).
#pragma once

#include "ops/optim/optimizer.h"
#include "ops/optim/update.h"

namespace millrace::ops {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0, as in torch
};

class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<Parameter*> parameters, const SgdOptions& options);
  std::string_view kind() const override { return "SGD"; }
  const SgdOptions& options() const { return options_; }

 protected:
  void Update(std::span<const ParameterUpdate> parameters, int64_t step) override;

 private:
  SgdOptions options_;
  std::vector<SgdUpdateTask> tasks_;  // reused from step to step
};

}  // namespace millrace::ops
