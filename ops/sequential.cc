#include "ops/sequential.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "ops/profile.h"

namespace millrace::ops {

namespace {

// One layer's pass inside a Sequential: in converted to plain unless the layer takes backend
// layouts, under the LayoutScope that says whether it may return one, timed when a LayerProfile
// is active. pass(layer, x) is the layer's Forward or Backward.
template <class Pass>
Tensor RunLayer(const std::string& name, Layer& layer, const Tensor& in, LayerProfile::Pass which,
                const Pass& pass) {
  auto call = [&] {
    const LayoutScope scope(layer.AcceptsLayouts());
    if (in.plain() || layer.AcceptsLayouts()) return pass(layer, in);
    return pass(layer, in.Plain());
  };
  LayerProfile* profile = LayerProfile::Current();
  if (!profile) return call();
  return profile->Time(name, layer, which, call);
}

void PrefixParameterNames(const std::string& layer_name, Layer& layer) {
  for (Parameter* p : layer.Parameters()) p->name = layer_name + "." + p->name;
}

}  // namespace

Layer& Sequential::Add(std::string name, std::unique_ptr<Layer> layer) {
  MILLRACE_CHECK_ARG(!name.empty(), "Sequential: a layer needs a non-empty name");
  MILLRACE_CHECK_ARG(layer != nullptr, "Sequential: layer '" << name << "' is null");
  for (const auto& [existing, unused] : layers_) {
    MILLRACE_CHECK_ARG(existing != name,
                       "Sequential: a layer named '" << name << "' already exists");
  }
  PrefixParameterNames(name, *layer);
  layers_.emplace_back(std::move(name), std::move(layer));
  RefreshInputGrad();
  RefreshFusion();
  return *layers_.back().second;
}

void Sequential::Replace(size_t i, std::unique_ptr<Layer> layer) {
  MILLRACE_CHECK_ARG(i < layers_.size(), "Sequential: Replace(" << i << ") but there are "
                                                                << layers_.size() << " layers");
  MILLRACE_CHECK_ARG(layer != nullptr, "Sequential: Replace(" << i << ") with a null layer");
  PrefixParameterNames(layers_[i].first, *layer);
  layers_[i].second = std::move(layer);
  RefreshInputGrad();
  RefreshFusion();
}

void Sequential::RefreshFusion() {
  fused_.assign(layers_.size(), false);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer* next =
        i + 1 < layers_.size() && !fused_[i] ? layers_[i + 1].second.get() : nullptr;
    const bool fuses = layers_[i].second->FuseNext(next);
    if (next != nullptr) fused_[i + 1] = fuses;
  }
}

void Sequential::set_input_grad(bool needed) {
  input_grad_ = needed;
  RefreshInputGrad();
}

size_t Sequential::FirstTrained() const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!const_cast<Layer&>(*layers_[i].second).Parameters().empty()) return i;
  }
  return layers_.size();
}

void Sequential::RefreshInputGrad() {
  const size_t first = input_grad_ ? 0 : FirstTrained();
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i].second->set_input_grad(i != first || input_grad_);
}

Tensor Sequential::Forward(const Tensor& x, Mode mode) {
  Tensor y = ForwardInLayout(x, mode);
  return y.plain() ? std::move(y) : y.Plain();
}

Tensor Sequential::Backward(const Tensor& dy) {
  Tensor dx = BackwardInLayout(dy);
  return !dx.defined() || dx.plain() ? std::move(dx) : dx.Plain();
}

Tensor Sequential::ForwardInLayout(const Tensor& x, Mode mode) {
  MILLRACE_CHECK_ARG(!layers_.empty(), "Sequential: Forward on an empty model");
  auto Run = [&](size_t i, const Tensor& in) {
    return RunLayer(layers_[i].first, *layers_[i].second, in, LayerProfile::Pass::kForward,
                    [mode](Layer& layer, const Tensor& t) { return layer.Forward(t, mode); });
  };
  Tensor h = Run(0, x);
  for (size_t i = 1; i < layers_.size(); ++i) {
    if (!fused_[i]) h = Run(i, h);
  }
  return h;
}

Tensor Sequential::BackwardInLayout(const Tensor& dy) {
  MILLRACE_CHECK_ARG(!layers_.empty(), "Sequential: Backward on an empty model");
  // Without input_grad, layers before the first trained one have nothing to compute.
  const size_t stop = input_grad_ ? 0 : std::min(FirstTrained(), layers_.size() - 1);
  auto Run = [&](size_t i, const Tensor& in) {
    return RunLayer(layers_[i].first, *layers_[i].second, in, LayerProfile::Pass::kBackward,
                    [](Layer& layer, const Tensor& t) { return layer.Backward(t); });
  };
  Tensor g = dy.View();
  for (size_t i = layers_.size(); i-- > stop;) {
    if (!fused_[i]) g = Run(i, g);
  }
  return input_grad_ ? std::move(g) : Tensor();
}

void Sequential::ZeroGrad() {
  for (Parameter* p : Parameters()) p->grad.Zero();
}

void Sequential::To(Device device) {
  auto move = [device](Tensor& t) {
    if (t.defined() && t.device() != device) t = t.Plain().To(device);
  };
  for (Parameter* p : Parameters()) {
    move(p->value);
    move(p->grad);
    move(p->mask);
  }
  for (auto& [name, buffer] : Buffers()) move(*buffer);
}

std::vector<Parameter*> Sequential::Parameters() {
  std::vector<Parameter*> all;
  for (auto& [name, layer] : layers_) {
    for (Parameter* p : layer->Parameters()) all.push_back(p);
  }
  return all;
}

Parameter* Sequential::FindParameter(std::string_view name) {
  for (Parameter* p : Parameters()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

std::vector<std::pair<std::string, Tensor*>> Sequential::Buffers() {
  std::vector<std::pair<std::string, Tensor*>> all;
  for (auto& [name, layer] : layers_) {
    for (auto& [buffer_name, tensor] : layer->Buffers()) {
      all.emplace_back(name + "." + buffer_name, tensor);
    }
  }
  return all;
}

int64_t Sequential::ParameterCount() const {
  int64_t count = 0;
  for (const auto& [name, layer] : layers_) {
    // Parameters() is non-const in Layer; counting does not modify the layer.
    for (const Parameter* p : const_cast<Layer&>(*layer).Parameters()) count += p->value.numel();
  }
  return count;
}

Shape Sequential::OutputShape(const Shape& input) const {
  Shape shape = input;
  for (const auto& [name, layer] : layers_) {
    try {
      shape = layer->OutputShape(shape);
    } catch (const Error& e) {
      MILLRACE_THROW(e.kind(), "layer '" << name << "': " << e.message());
    }
  }
  return shape;
}

int64_t Sequential::ForwardFlops(const Shape& input) const {
  Shape shape = input;
  int64_t flops = 0;
  for (const auto& [name, layer] : layers_) {
    flops += layer->ForwardFlops(shape);
    shape = layer->OutputShape(shape);
  }
  return flops;
}

int64_t Sequential::TrainingFlops(const Shape& input) const {
  const size_t first = input_grad_ ? 0 : FirstTrained();
  Shape shape = input;
  int64_t flops = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t forward = layers_[i].second->ForwardFlops(shape);
    flops += (i < first ? 1 : i == first && !input_grad_ ? 2 : 3) * forward;
    shape = layers_[i].second->OutputShape(shape);
  }
  return flops;
}

std::string Sequential::Summary(const Shape& input) const {
  std::ostringstream s;
  s << std::left << std::setw(12) << "layer" << std::setw(36) << "description" << std::setw(22)
    << "output" << std::right << std::setw(12) << "parameters" << std::setw(16) << "FLOPs"
    << "\n";
  Shape shape = input;
  int64_t total_flops = 0;
  for (const auto& [name, layer] : layers_) {
    const int64_t flops = layer->ForwardFlops(shape);
    shape = layer->OutputShape(shape);
    int64_t params = 0;
    for (const Parameter* p : const_cast<Layer&>(*layer).Parameters()) params += p->value.numel();
    total_flops += flops;
    s << std::left << std::setw(12) << name << std::setw(36) << layer->Describe() << std::setw(22)
      << ToString(shape) << std::right << std::setw(12) << params << std::setw(16) << flops << "\n";
  }
  s << std::left << std::setw(70) << "total" << std::right << std::setw(12) << ParameterCount()
    << std::setw(16) << total_flops << "\n";
  return s.str();
}

}  // namespace millrace::ops
