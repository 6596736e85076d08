#include "ops/optim/sgd.h"

#include "core/error.h"

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

void Sgd::Update(Parameter& p, std::vector<Tensor>& state, int64_t step) {
  const float rate = static_cast<float>(lr());
  const float wd = p.decay ? static_cast<float>(options_.weight_decay) : 0.0f;
  const float momentum = static_cast<float>(options_.momentum);
  const float damp = static_cast<float>(1 - options_.dampening);
  const bool nesterov = options_.nesterov;
  float* w = p.value.data<float>();
  const float* grad = p.grad.data<float>();
  const int64_t n = p.value.numel();
  if (momentum == 0) {
    for (int64_t i = 0; i < n; ++i) w[i] -= rate * (grad[i] + wd * w[i]);
    return;
  }
  float* buf = state[0].data<float>();
  const bool first = step == 1;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + wd * w[i];
    buf[i] = first ? g : momentum * buf[i] + damp * g;
    w[i] -= rate * (nesterov ? g + momentum * buf[i] : buf[i]);
  }
}

}  // namespace millrace::ops
