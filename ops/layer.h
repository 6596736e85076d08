// The interface every layer implements, and the Parameter it trains.
//
// A layer is a pair of functions, Forward and Backward, over batches:
//   Tensor y  = layer.Forward(x, Mode::kTrain);  // saves what Backward needs
//   Tensor dx = layer.Backward(dy);              // adds into each Parameter's grad, returns dx
// Forward and Backward check their arguments once, then call the kernels registered for the
// input's device in the layer's KernelTable (ops/kernel_table.h): the CPU backend (oneDNN), and
// in a build with CUDA the CUDA one for the layers that register it; a device without the
// layer's kernels throws "no kernel for <layer> on <device>".
// A layer object is used by one thread at a time (the compute stage's thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace millrace::ops {

enum class Mode : unsigned char { kTrain, kEval };

// Whether the caller of a layer on this thread takes its results in a backend layout
// (Layer::AcceptsLayouts). Sequential opens LayoutScope(true) around the layers that accept
// layouts and LayoutScope(false) around the others; outside any scope, layers return plain
// tensors. Scopes nest and restore the previous value.
class LayoutScope {
 public:
  explicit LayoutScope(bool allowed);
  ~LayoutScope();
  LayoutScope(const LayoutScope&) = delete;
  LayoutScope& operator=(const LayoutScope&) = delete;

  static bool allowed();
  // t as the current scope takes it: t itself, or t.Plain() outside a LayoutScope(true).
  static Tensor Finish(Tensor t);

 private:
  bool previous_;
};

// A trained tensor with its gradient and, once pruned, its mask.
struct Parameter {
  std::string name;   // set by Sequential: "<layer name>.<weight|bias|...>"
  Tensor value;       // f32
  Tensor grad;        // same shape as value; Backward adds into it, ZeroGrad clears it
  Tensor mask;        // undefined until pruned; then f32 0/1, same shape as value
  bool decay = true;  // weight decay applies (false for biases and BatchNorm's affine terms)
};

// A CPU f32 Parameter of `shape`: value uninitialised, grad zero, no mask. `name` is the name
// relative to its layer ("weight"); Sequential prefixes the layer's name.
inline Parameter MakeParameter(std::string name, const Shape& shape, bool decay) {
  Parameter p;
  p.name = std::move(name);
  p.value = Tensor::Empty(shape);
  p.grad = Tensor::Zeros(shape);
  p.decay = decay;
  return p;
}

class Layer {
 public:
  virtual ~Layer() = default;

  // The layer's type in the user's words: "Linear", "Conv2d", "BatchNorm2d", ...
  virtual std::string_view kind() const = 0;
  // One line of its configuration: "Linear(784 -> 500)".
  virtual std::string Describe() const = 0;

  // x: a batch, dimension 0 is the batch. In kTrain mode the layer keeps what Backward needs.
  virtual Tensor Forward(const Tensor& x, Mode mode) = 0;
  // dy: gradient of the loss with respect to the last Forward's output. Adds the parameters'
  // gradients into Parameter::grad and returns the gradient with respect to the input.
  virtual Tensor Backward(const Tensor& dy) = 0;

  // The output shape for an input shape (batch included); throws Error(kInvalidArgument),
  // naming the layer, when the input does not fit.
  virtual Shape OutputShape(const Shape& input) const = 0;
  // Multiply-adds x 2 of one Forward for an input shape (0 for layers without arithmetic).
  virtual int64_t ForwardFlops(const Shape& input) const { return 0; }

  // Whether Forward takes x, and Backward dy, in a backend layout (Tensor::plain() false, e.g.
  // oneDNN's nChw8c). Sequential converts to plain before every layer that says no (the
  // default), so a layer that reads data() never sees a blocked tensor. A layer that says yes
  // returns its results in a backend layout only inside a LayoutScope(true), which Sequential
  // opens around it; called directly it returns plain tensors. Sequential::Forward / Backward
  // return plain tensors.
  virtual bool AcceptsLayouts() const { return false; }

  // Fusion with the next layer of a Sequential. Sequential calls it whenever its layers change,
  // with the layer that follows (nullptr for the last, or to undo). A layer that from then on
  // computes `next` inside its own primitives (BatchNorm2d a following ReLU) returns true, and
  // Sequential skips `next` in Forward and Backward; `next` stays in the model with its name.
  // Results equal those of the two layers run apart up to floating-point reassociation.
  virtual bool FuseNext(const Layer* next) { return false; }

  // Whether Backward must return the gradient with respect to the input (default: yes). A
  // model's first trained layer is told no (Sequential::set_input_grad): its input is data, and
  // dx of the first layer is a third of the mlp's work. Backward then returns an undefined
  // Tensor; the parameters' gradients are computed as before.
  virtual void set_input_grad(bool needed) { input_grad_ = needed; }
  bool input_grad() const { return input_grad_; }

  // The backend's implementations for the last Forward's shape ("jit:avx2 / jit:avx2 / ..."
  // for oneDNN), for profiles and reports; empty for layers without a backend primitive.
  virtual std::string BackendInfo() const { return {}; }

  // Trained tensors, in a fixed order (weight before bias).
  virtual std::vector<Parameter*> Parameters() { return {}; }
  // State that is checkpointed but not trained (BatchNorm's running mean and variance), with
  // names relative to the layer ("running_mean").
  virtual std::vector<std::pair<std::string, Tensor*>> Buffers() { return {}; }

 private:
  bool input_grad_ = true;
};

}  // namespace millrace::ops
