#include "ops/optim/adamw.h"

#include <cmath>

#include "core/error.h"
#include "ops/optim/update.h"

namespace millrace::ops {

AdamW::AdamW(std::vector<Parameter*> parameters, const AdamWOptions& options)
    : Optimizer(std::move(parameters), options.lr, {"exp_avg", "exp_avg_sq"}), options_(options) {
  MILLRACE_CHECK_ARG(
      options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
      "AdamW: betas must be in [0, 1), got " << options.beta1 << ", " << options.beta2);
  MILLRACE_CHECK_ARG(options.eps >= 0, "AdamW: eps must be >= 0, got " << options.eps);
  MILLRACE_CHECK_ARG(options.weight_decay >= 0,
                     "AdamW: weight decay must be >= 0, got " << options.weight_decay);
}

void AdamW::Update(std::span<const ParameterUpdate> parameters, int64_t step) {
  const double rate = lr();
  const double correction1 = 1 - std::pow(options_.beta1, static_cast<double>(step));
  const double correction2 = 1 - std::pow(options_.beta2, static_cast<double>(step));
  AdamWUpdateConfig config;
  config.beta1 = static_cast<float>(options_.beta1);
  config.beta2 = static_cast<float>(options_.beta2);
  config.step_size = static_cast<float>(rate / correction1);
  config.inv_sqrt_c2 = static_cast<float>(1 / std::sqrt(correction2));
  config.eps = static_cast<float>(options_.eps);
  tasks_.clear();
  for (const ParameterUpdate& u : parameters) {
    Parameter& p = *u.parameter;
    AdamWUpdateTask& t = tasks_.emplace_back();
    t.w = &p.value;
    t.grad = &p.grad;
    t.m = &(*u.state)[0];
    t.v = &(*u.state)[1];
    t.mask = p.mask.defined() ? &p.mask : nullptr;
    t.config = config;
    t.config.decay = p.decay ? static_cast<float>(1 - rate * options_.weight_decay) : 1.0f;
  }
  AdamWUpdateAll(tasks_);
}

}  // namespace millrace::ops
