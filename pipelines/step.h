// One training step, cut into named compute stages: forward -> loss -> backward -> prune-mask
// -> step. The training graph places each on Compute() as a graph stage of its own (its own
// statistics and trace spans); the runtime runs them in sequence order, item k through all of
// them before item k+1 enters forward. The reference loop (pipelines/reference_loop.h) does not
// use them.
//
// A batch travels through the stages as a StepItem; the model, the optimizer and the schedule
// live in a TrainState that only the compute thread touches. A user's stage joins the graph
// through TrainingPipeline::InsertBefore/Replace (pruning and distillation do the same):
//
//   class Clip : public ComputeStage {      // a user's stage between backward and step
//    public:
//     Clip() : ComputeStage("clip") {}
//     void Run(StepItem& item, TrainState& state) override { ...state.model->Parameters()... }
//   };
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/device_stream.h"
#include "core/tensor.h"
#include "ops/loss/loss.h"
#include "ops/optim/lr_schedule.h"
#include "ops/optim/optimizer.h"
#include "ops/sequential.h"
#include "pipelines/train_config.h"

namespace millrace::pipelines {

// A collated batch. images: f32 [B, C, H, W]; labels: i64 [B]; indices: the samples' dataset
// indices (teacher-logit caches key on them).
struct Batch {
  int64_t seq = 0;             // position in the whole run: 0, 1, 2, ... (one per step)
  int epoch = 0;               // 1-based
  int64_t index_in_epoch = 0;  // 0-based
  bool last_in_epoch = false;
  Tensor images;
  Tensor labels;
  std::vector<int64_t> indices;
};

// Work a compute stage hands to a cpu stage beside compute (ComputeStage::side_stage()), so
// that it runs off the critical path: a mask ranking at lag > 0.
using SideWork = std::function<void()>;

// A batch on its way through the compute stages.
struct StepItem {
  Batch batch;
  Tensor logits;          // forward: [B, classes]
  Tensor teacher_logits;  // a teacher branch, joined by batch.seq (distillation)
  double loss = 0.0;      // loss: the batch's mean loss (on a GPU: set by progress, below)
  Tensor dlogits;         // loss: d loss / d logits
  // On a GPU the loss stays on the device until progress reads it, one step late, so that the
  // host never waits for the GPU between steps (ResolveLoss in finite_check.h). Undefined on
  // the CPU, where `loss` is set by the loss stage.
  ops::DeferredLoss pending_loss;
  double lr = 0.0;        // step: the learning rate used
  SideWork side;          // run by the side stage once this item has left compute
  bool skipped = false;   // non-finite loss or gradients (NonFinitePolicy::kSkip): no update
  bool replayed = false;  // the whole step ran as one captured CUDA Graph (pipelines/step_graph.h)
  // On a GPU: events around the step's device work (timing), read by progress for the share
  // of the run the GPU was busy.
  std::shared_ptr<const DeviceEvent> device_start, device_end;
};

// What the compute stages share. Touched only by the compute thread.
struct TrainState {
  ops::Sequential* model = nullptr;
  ops::Optimizer* optimizer = nullptr;
  ops::LrSchedulePtr schedule;  // factor of base_lr per step
  double base_lr = 0.0;
  int64_t steps_done = 0;        // optimizer steps applied (== seq of the next batch)
  double label_smoothing = 0.0;  // of the loss (ops::SoftmaxCrossEntropy)
  // True once the running graph is cancelled (set while it runs): a stage that waits on
  // something (side work) gives up when it turns true.
  std::function<bool()> cancelled;
  NonFinitePolicy on_nonfinite = NonFinitePolicy::kFail;
  int64_t nonfinite_skipped = 0;  // batches skipped for a non-finite loss or gradient
};

class ComputeStage {
 public:
  explicit ComputeStage(std::string name) : name_(std::move(name)) {}
  virtual ~ComputeStage() = default;
  const std::string& name() const { return name_; }
  // Works on one batch. Runs on the compute thread, in sequence order.
  virtual void Run(StepItem& item, TrainState& state) = 0;
  // The name of a cpu stage that this stage hands work to (StepItem::side), or empty: the
  // training graph then adds that stage after compute.
  virtual std::string side_stage() const { return {}; }

 private:
  std::string name_;
};
using ComputeStagePtr = std::unique_ptr<ComputeStage>;

// A stage from a function, for small additions.
ComputeStagePtr MakeComputeStage(std::string name,
                                 std::function<void(StepItem&, TrainState&)> body);

// The default stages, in order: forward, loss (softmax cross-entropy), backward, prune-mask
// (applies Parameter masks to the gradients; a pruning schedule replaces it), step (sets the
// scheduled lr, optimizer step, zeroes the gradients).
std::vector<ComputeStagePtr> DefaultComputeStages();

// One step as the plain loop computes it, for the reference loop and compute-only benchmarks:
// zero grads, forward, softmax cross-entropy, backward, lr from the schedule, optimizer step.
// Returns the batch's loss.
double PlainStep(const Batch& batch, TrainState& state);

}  // namespace millrace::pipelines
