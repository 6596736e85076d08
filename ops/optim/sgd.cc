#include "ops/optim/sgd.h"

#include "core/error.h"
#include "ops/optim/update.h"

namespace millrace::ops {
namespace {

std::vector<std::string> SgdSlots(const SgdOptions& o) {
  if (o.momentum != 0) return {"momentum_buffer"};
  return {};
}

}  // namespace

Sgd::Sgd(std::vector<Parameter*> parameters, const SgdOptions& options)
    : Optimizer(std::move(parameters), options.lr, SgdSlots(options)), options_(options) {
  MILLRACE_CHECK_ARG(options.momentum >= 0, "SGD: momentum must be >= 0, got " << options.momentum);
  MILLRACE_CHECK_ARG(options.weight_decay >= 0,
                     "SGD: weight decay must be >= 0, got " << options.weight_decay);
  MILLRACE_CHECK_ARG(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
                     "SGD: Nesterov momentum requires momentum > 0 and dampening 0");
}

void Sgd::Update(std::span<const ParameterUpdate> parameters, int64_t step) {
  SgdUpdateConfig config;
  config.lr = static_cast<float>(lr());
  config.momentum = static_cast<float>(options_.momentum);
  config.damp = static_cast<float>(1 - options_.dampening);
  config.nesterov = options_.nesterov;
  config.first_step = step == 1;
  tasks_.clear();
  for (const ParameterUpdate& u : parameters) {
    Parameter& p = *u.parameter;
    SgdUpdateTask& t = tasks_.emplace_back();
    t.w = &p.value;
    t.grad = &p.grad;
    t.momentum_buffer = u.state->empty() ? nullptr : &(*u.state)[0];
    t.mask = p.mask.defined() ? &p.mask : nullptr;
    t.config = config;
    t.config.weight_decay = p.decay ? static_cast<float>(options_.weight_decay) : 0.0f;
  }
  SgdUpdateAll(tasks_);
}

}  // namespace millrace::ops
