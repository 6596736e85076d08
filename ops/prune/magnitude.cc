#include "ops/prune/magnitude.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <string>

#include "core/error.h"
#include "ops/prune/mask.h"
#include "ops/prune/ranking.h"
#include "ops/prune/topk.h"

namespace millrace::ops {
namespace {

void CheckPrunable(const Parameter& p, const char* op) {
  MILLRACE_CHECK_ARG(p.value.defined() && p.value.dtype() == DType::kF32,
                     op << ": parameter '" << p.name << "' must be an f32 tensor");
  MILLRACE_CHECK_ARG(!p.mask.defined() || p.mask.shape() == p.value.shape(),
                     op << ": mask of '" << p.name << "' is " << ToString(p.mask.shape())
                        << ", value is " << ToString(p.value.shape()));
}

// The mask, created as ones on the value's device when absent.
void EnsureMask(Parameter& p) {
  if (p.mask.defined()) return;
  Tensor ones = Tensor::Empty(p.value.shape());
  ones.Fill(1.0f);
  p.mask = p.value.device().is_cpu() ? std::move(ones) : ones.To(p.value.device());
}

}  // namespace

PruneAmount PruneAmount::Fraction(double fraction) {
  MILLRACE_CHECK_ARG(fraction >= 0 && fraction <= 1,
                     "prune amount: a fraction must be in [0, 1], got " << fraction);
  return PruneAmount(true, fraction, 0);
}

PruneAmount PruneAmount::Count(int64_t count) {
  MILLRACE_CHECK_ARG(count >= 0, "prune amount: a count must be >= 0, got " << count);
  return PruneAmount(false, 0, count);
}

int64_t PruneAmount::Resolve(int64_t available, const std::string& what) const {
  if (is_fraction_) {
    // Python's round(): to nearest, ties to even, on the double product.
    const int saved = std::fegetround();
    std::fesetround(FE_TONEAREST);
    const double rounded = std::nearbyint(fraction_ * static_cast<double>(available));
    std::fesetround(saved);
    return static_cast<int64_t>(rounded);
  }
  MILLRACE_CHECK_ARG(count_ <= available, "prune " << what << ": amount " << count_
                                                   << " is more than the " << available
                                                   << " entries left to prune");
  return count_;
}

void L1Unstructured(Parameter& parameter, PruneAmount amount) {
  GlobalL1Unstructured({&parameter}, amount);
}

void GlobalL1Unstructured(const std::vector<Parameter*>& parameters, PruneAmount amount) {
  std::string what;
  for (const Parameter* p : parameters) {
    MILLRACE_CHECK_ARG(p != nullptr, "GlobalL1Unstructured: null parameter");
    CheckPrunable(*p, "L1Unstructured");
    MILLRACE_CHECK_ARG(p->value.device() == parameters[0]->value.device() &&
                           (!p->mask.defined() || p->mask.device() == p->value.device()),
                       "GlobalL1Unstructured: '" << p->name << "' is on "
                                                 << p->value.device().ToString() << ", '"
                                                 << parameters[0]->name << "' on "
                                                 << parameters[0]->value.device().ToString()
                                                 << ": one ranking needs one device");
    what += (what.empty() ? "'" : ", '") + p->name + "'";
  }
  if (parameters.empty()) {
    amount.Resolve(0, what);  // a count > 0 of nothing still throws
    return;
  }
  // torch leaves a mask of ones even when nothing was pruned; a mask of ones selects every entry.
  for (Parameter* p : parameters) EnsureMask(*p);
  L1PruneKernels().Get(parameters[0]->value.device())(parameters, amount, what);
  for (Parameter* p : parameters) ApplyMask(*p);
}

void L2Structured(Parameter& parameter, PruneAmount amount) {
  CheckPrunable(parameter, "L2Structured");
  MILLRACE_CHECK_ARG(parameter.value.ndim() >= 2,
                     "L2Structured: '" << parameter.name << "' is "
                                       << ToString(parameter.value.shape())
                                       << "; structured pruning needs at least 2 dimensions");
  const int64_t channels = parameter.value.dim(0);
  const int64_t per_channel = parameter.value.numel() / channels;
  EnsureMask(parameter);
  // Channels still alive (torch: the mask's sum over the other dimensions is not 0), and the
  // L2 norm of each.
  std::vector<int64_t> alive;
  std::vector<float> norms;
  ChannelL2Norms(parameter.value, parameter.mask, alive, norms);
  const auto available = static_cast<int64_t>(alive.size());
  const int64_t prune = amount.Resolve(available, "'" + parameter.name + "' (output channels)");
  if (prune > 0) {
    std::vector<bool> keep(alive.size(), false);
    for (int64_t j : internal::TorchTopK(norms, available - prune, /*largest=*/true)) {
      keep[j] = true;
    }
    // The mask's channels are written on the host (a copy of a device mask: one ranking per
    // pruning step, a channel's worth of writes each).
    const bool on_cpu = parameter.mask.device().is_cpu();
    Tensor host = on_cpu ? parameter.mask.View() : parameter.mask.To(Device::Cpu());
    float* mask = host.data<float>();
    for (size_t j = 0; j < alive.size(); ++j) {
      if (keep[j]) continue;
      const int64_t c = alive[j];
      std::fill(mask + c * per_channel, mask + (c + 1) * per_channel, 0.0f);
    }
    if (!on_cpu) parameter.mask.CopyFrom(host);
  }
  ApplyMask(parameter);
}

void ApplyMask(Parameter& parameter) {
  if (!parameter.mask.defined()) return;
  MaskMultiply(parameter.value, parameter.mask);
  if (parameter.grad.defined()) MaskMultiply(parameter.grad, parameter.mask);
}

void ApplyMasks(const std::vector<Parameter*>& parameters) {
  for (Parameter* p : parameters) ApplyMask(*p);
}

void RemoveMask(Parameter& parameter) {
  MILLRACE_CHECK_ARG(parameter.mask.defined(),
                     "RemoveMask: parameter '" << parameter.name << "' has no mask to remove");
  ApplyMask(parameter);
  parameter.mask = Tensor();
}

int64_t PrunedCount(const Parameter& parameter) {
  if (!parameter.mask.defined()) return 0;
  return CountZeros(parameter.mask);
}

}  // namespace millrace::ops
