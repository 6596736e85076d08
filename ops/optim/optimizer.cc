#include "ops/optim/optimizer.h"

#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace millrace::ops {
namespace {

void CheckParameter(const Parameter* p, std::string_view optimizer) {
  MILLRACE_CHECK_ARG(p != nullptr, optimizer << ": null parameter");
  MILLRACE_CHECK_ARG(p->value.defined() && p->value.dtype() == DType::kF32,
                     optimizer << ": parameter '" << p->name << "' must be an f32 tensor");
}

}  // namespace

Optimizer::Optimizer(std::vector<Parameter*> parameters, double lr, std::vector<std::string> slots)
    : parameters_(std::move(parameters)), slot_names_(std::move(slots)), lr_(lr) {
  MILLRACE_CHECK_ARG(lr >= 0, "optimizer: learning rate must be >= 0, got " << lr);
  std::set<std::string> names;
  for (Parameter* p : parameters_) {
    CheckParameter(p, "optimizer");
    MILLRACE_CHECK_ARG(p->name.empty() || names.insert(p->name).second,
                       "optimizer: parameter '" << p->name << "' is listed twice");
    std::vector<Tensor> state;
    for (size_t s = 0; s < slot_names_.size(); ++s)
      state.push_back(Tensor::Zeros(p->value.shape(), DType::kF32, p->value.device()));
    state_.push_back(std::move(state));
  }
}

void Optimizer::set_lr(double lr) {
  MILLRACE_CHECK_ARG(lr >= 0, kind() << ": learning rate must be >= 0, got " << lr);
  lr_ = lr;
}

void Optimizer::Step() {
  updates_.clear();
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Parameter& p = *parameters_[i];
    if (!p.grad.defined()) continue;
    MILLRACE_CHECK_ARG(p.grad.shape() == p.value.shape() && p.grad.dtype() == DType::kF32,
                       kind() << ": gradient of '" << p.name << "' is " << ToString(p.grad.shape())
                              << ", value is " << ToString(p.value.shape()));
    if (p.mask.defined()) {
      MILLRACE_CHECK_ARG(p.mask.shape() == p.value.shape() && p.mask.dtype() == DType::kF32,
                         kind() << ": mask of '" << p.name << "' is " << ToString(p.mask.shape())
                                << ", value is " << ToString(p.value.shape()));
    }
    updates_.push_back({&p, &state_[i]});
  }
  ++steps_;
  Update(updates_, steps_);
}

void Optimizer::ZeroGrad() {
  for (Parameter* p : parameters_) {
    if (p->grad.defined()) p->grad.Zero();
  }
}

OptimizerState Optimizer::ExportState() const {
  OptimizerState out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      out.tensors.emplace_back(parameters_[i]->name + "." + slot_names_[s], state_[i][s].Clone());
    }
  }
  out.scalars["kind"] = std::string(kind());
  out.scalars["step"] = std::to_string(steps_);
  std::ostringstream lr;
  lr.precision(17);
  lr << lr_;
  out.scalars["lr"] = lr.str();
  return out;
}

void Optimizer::ImportState(const OptimizerState& state) {
  auto scalar = [&](const std::string& key) -> const std::string& {
    auto it = state.scalars.find(key);
    MILLRACE_CHECK_ARG(it != state.scalars.end(),
                       kind() << ": optimizer state lacks the scalar '" << key << "'");
    return it->second;
  };
  MILLRACE_CHECK_ARG(scalar("kind") == kind(),
                     kind() << ": optimizer state is of a " << scalar("kind") << " optimizer");
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, tensor] : state.tensors) by_name[name] = &tensor;
  // Check everything before changing anything.
  std::vector<std::pair<Tensor*, const Tensor*>> copies;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      const std::string name = parameters_[i]->name + "." + slot_names_[s];
      auto it = by_name.find(name);
      MILLRACE_CHECK_ARG(it != by_name.end(),
                         kind() << ": optimizer state lacks the tensor '" << name << "'");
      const Tensor& t = *it->second;
      MILLRACE_CHECK_ARG(t.shape() == state_[i][s].shape() && t.dtype() == DType::kF32,
                         kind() << ": optimizer state tensor '" << name << "' is "
                                << ToString(t.dtype()) << " " << ToString(t.shape())
                                << ", the parameter needs f32 " << ToString(state_[i][s].shape()));
      copies.emplace_back(&state_[i][s], &t);
      by_name.erase(it);
    }
  }
  MILLRACE_CHECK_ARG(by_name.empty(), kind() << ": optimizer state has the unexpected tensor '"
                                             << by_name.begin()->first << "'");
  int64_t steps = 0;
  double lr = 0;
  try {
    steps = std::stoll(scalar("step"));
    lr = std::stod(scalar("lr"));
  } catch (const std::logic_error&) {
    MILLRACE_THROW(ErrorKind::kInvalidArgument, kind() << ": optimizer state has a malformed step '"
                                                       << scalar("step") << "' or lr '"
                                                       << scalar("lr") << "'");
  }
  for (auto& [dst, src] : copies) dst->CopyFrom(*src);
  steps_ = steps;
  set_lr(lr);
}

}  // namespace millrace::ops
