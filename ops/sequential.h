// Sequential: layers applied in order, with named parameters.
//
//   Sequential mlp;
//   mlp.Add("fc1", std::make_unique<Linear>(784, 500));
//   mlp.Add("relu1", std::make_unique<ReLU>());
//   mlp.Add("fc2", std::make_unique<Linear>(500, 10));
//   Tensor logits = mlp.Forward(x, Mode::kTrain);
//   mlp.Backward(dlogits);            // grads of "fc1.weight", "fc1.bias", ...
//
// Layouts: between layers that take backend layouts (Layer::AcceptsLayouts: the CPU
// convolutions, batch norms, ReLUs and pooling) activations and gradients stay in the layouts
// oneDNN chose; Sequential converts them to plain before any other layer, and Forward and
// Backward return plain tensors. Fusion: a layer that absorbs the next (Layer::FuseNext, a
// BatchNorm2d followed by a ReLU) makes Sequential skip that next layer; names, parameters and
// checkpoints do not change.
//
// Used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ops/layer.h"

namespace millrace::ops {

class Sequential {
 public:
  Sequential() = default;
  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;

  // Appends a layer; names must be unique and non-empty. Its parameters become
  // "<name>.<param>". Returns the layer.
  Layer& Add(std::string name, std::unique_ptr<Layer> layer);

  // Returns a plain tensor.
  Tensor Forward(const Tensor& x, Mode mode);
  // Runs every layer's Backward, last first; returns the gradient with respect to the input
  // (plain), or an undefined Tensor after set_input_grad(false).
  Tensor Backward(const Tensor& dy);
  // Forward and Backward that return the last layer's result in whatever layout it has: for
  // composite layers that hold a Sequential and take backend layouts themselves.
  Tensor ForwardInLayout(const Tensor& x, Mode mode);
  Tensor BackwardInLayout(const Tensor& dy);
  // Whether layer i is fused into the layer before it (and so skipped by Forward / Backward).
  bool fused(size_t i) const { return i < fused_.size() && fused_[i]; }

  // Whether Backward computes the gradient with respect to the model's input (default: yes).
  // With false, Backward stops at the first layer that has parameters, which computes only its
  // parameters' gradients: no layer before it runs backward, and nothing is spent on dx of the
  // data. Training sets it false (the model presets and the training pipeline do).
  void set_input_grad(bool needed);
  bool input_grad() const { return input_grad_; }
  // Multiply-adds x 2 of one training step (forward, backward-data where it runs, and
  // backward-weights, counted as forward's FLOPs each) for an input shape.
  int64_t TrainingFlops(const Shape& input) const;

  void ZeroGrad();
  // Moves every parameter (value, grad and mask) and buffer to `device`: a model trains on the
  // device its tensors are on. An optimizer made before the move keeps state on the old
  // device: make it after.
  void To(Device device);
  std::vector<Parameter*> Parameters();             // in layer order
  Parameter* FindParameter(std::string_view name);  // nullptr when absent
  // Buffers with full names ("bn1.running_mean").
  std::vector<std::pair<std::string, Tensor*>> Buffers();

  int64_t ParameterCount() const;
  Shape OutputShape(const Shape& input) const;  // throws naming the layer that doesn't fit
  int64_t ForwardFlops(const Shape& input) const;
  // A table: layer name, description, output shape, parameters, FLOPs.
  std::string Summary(const Shape& input) const;

  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_[i].second; }
  const Layer& layer(size_t i) const { return *layers_[i].second; }
  const std::string& layer_name(size_t i) const { return layers_[i].first; }
  // Replaces layer i (structured pruning shrinks layers this way); renames its parameters.
  void Replace(size_t i, std::unique_ptr<Layer> layer);

 private:
  // Tells the layers whether their input needs a gradient (after Add, Replace and
  // set_input_grad).
  void RefreshInputGrad();
  // Offers every layer its successor for fusion (after Add and Replace).
  void RefreshFusion();
  // The first layer with parameters (size() when none): where Backward stops without input_grad.
  size_t FirstTrained() const;

  std::vector<std::pair<std::string, std::unique_ptr<Layer>>> layers_;
  bool input_grad_ = true;
  std::vector<bool> fused_;  // per layer: skipped, computed by the layer before it
};

}  // namespace millrace::ops
