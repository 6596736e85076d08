// Optimizer: updates a fixed list of Parameters from their gradients.
//
//   Sgd sgd(model.Parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4});
//   model.ZeroGrad(); model.Forward(...); model.Backward(...);
//   sgd.Step();
//
// Pruning masks: where a Parameter's mask is defined, Step() multiplies the gradient by the mask
// before the update and the weights by the mask after it, so pruned weights stay exactly 0.
// Parameters whose grad is undefined are skipped (like torch's `p.grad is None`).
// The optimizer keeps pointers to the Parameters (owned by the model, which must outlive it) and
// its own state (momentum, moments). Used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ops/layer.h"

namespace millrace::ops {

// An optimizer's state as named tensors and scalars, for checkpoints. Tensor names are
// "<parameter name>.<slot>", e.g. "fc1.weight.momentum_buffer"; scalars include "step".
// A parameter and its state slots, as Step() hands them to Update().
struct ParameterUpdate {
  Parameter* parameter;
  std::vector<Tensor>* state;  // the slots in order
};

struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> scalars;
};

class Optimizer {
 public:
  // `slots`: the per-parameter state tensors this optimizer keeps (allocated as zeros).
  Optimizer(std::vector<Parameter*> parameters, double lr, std::vector<std::string> slots);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string_view kind() const = 0;  // "SGD", "AdamW"

  // One update of every parameter that has a gradient (masks applied as described above).
  void Step();
  // Sets every parameter's gradient to zero.
  void ZeroGrad();

  double lr() const { return lr_; }
  void set_lr(double lr);                   // learning-rate schedules call this before Step()
  int64_t steps() const { return steps_; }  // Step() calls so far
  // Sets the count Step() continues from. A captured CUDA Graph's step (pipelines/step_graph.h)
  // counts its step once although Step() ran twice for it: staged, then recorded.
  void set_steps(int64_t steps) { steps_ = steps; }
  const std::vector<Parameter*>& parameters() const { return parameters_; }

  // A deep copy of the state (every slot of every parameter, "step" and "lr").
  OptimizerState ExportState() const;
  // Restores ExportState()'s output. Throws Error(kInvalidArgument) naming the tensor when a
  // slot is missing, unexpected or mis-shaped (with both shapes), or the optimizer kinds differ.
  void ImportState(const OptimizerState& state);

 protected:
  // Updates every parameter that has a gradient, in one pass (update.h's multi-tensor kernels):
  // a parameter with a mask gets it applied to its gradient before and to its weights after the
  // update in that pass. `step` counts from 1 for the first Step().
  virtual void Update(std::span<const ParameterUpdate> parameters, int64_t step) = 0;

 private:
  std::vector<Parameter*> parameters_;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> state_;  // [parameter][slot]
  std::vector<ParameterUpdate> updates_;    // Step()'s list, kept to reuse its memory
  double lr_;
  int64_t steps_ = 0;
};

}  // namespace millrace::ops
