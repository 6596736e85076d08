// AdamW (Loshchilov & Hutter), with torch.optim.AdamW's semantics (amsgrad off):
//   w = w * (1 - lr * weight_decay)                    (parameters with decay = true)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   w = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// t counts steps from 1. Parameter::decay = false is a parameter group with weight_decay 0.
#pragma once

#include "ops/optim/optimizer.h"
#include "ops/optim/update.h"

namespace millrace::ops {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<Parameter*> parameters, const AdamWOptions& options);
  std::string_view kind() const override { return "AdamW"; }
  const AdamWOptions& options() const { return options_; }

 protected:
  void Update(std::span<const ParameterUpdate> parameters, int64_t step) override;

 private:
  AdamWOptions options_;
  std::vector<AdamWUpdateTask> tasks_;  // reused from step to step
};

}  // namespace millrace::ops
