// The training step on a GPU as one CUDA Graph: captured once, replayed every step.
//
// The default compute stages (forward, loss, backward, prune-mask, step) of a full batch are
// captured together on the device's stream at the second step of that batch shape (the first
// runs eagerly: cuBLASLt and cuDNN plans, workspaces and the optimizer's tables are made
// then, and a capture may not make them). From then on each full batch is one graph launch:
//
//   to-device(k) -> [forward: copy the batch into the graph's input, stage the optimizer's
//                    scalars, launch]  loss, backward, prune-mask, step: host bookkeeping only
//
// What a replay needs that the host computed: the batch (copied into the captured input
// tensors on the stream), the learning rate and the optimizer's per-step scalars (staged by
// the optimizer's Step() in an ops::StageUpdatesForReplay scope, queued ahead of the launch),
// and nothing else: masks, weights, gradients and optimizer state keep their addresses. The
// loss is read one step late (StepItem::pending_loss: a copy of the graph's loss terms queued
// after the launch). The blocks the capture took are the graph's (core/device_graph.h).
//
// A step runs eagerly instead, as before, when: the batch is not the captured shape (the last,
// partial batch of an epoch); CUDA Graphs are off (--no-cuda-graphs); or the step cannot be
// captured (WhyNot: other compute stages than the default ones, such as pruning schedules or
// distillation, which change tensors between steps; a Dropout layer, whose mask the host
// draws; --on-nonfinite skip, which reads every loss before its update).
//
// Thread safety: the device thread's (the compute stages' bodies) only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/device_graph.h"
#include "core/graph/device_context.h"
#include "pipelines/step.h"
#include "pipelines/train_config.h"

namespace millrace::pipelines {

class StepGraph {
 public:
  // Empty when the step of these compute stages on this model can be captured, else why not
  // (for the run's notes).
  static std::string WhyNot(const TrainConfig& config, const std::vector<std::string>& stages,
                            ops::Sequential& model);

  // Before forward(k). True: item k's whole step has been queued as a replay of the captured
  // graph (the stages then skip their bodies: StepItem::replayed). False: the stages run
  // their bodies, eagerly or (for the step that is captured) into the capture.
  bool Begin(StepItem& item, TrainState& state, const DeviceContext& ctx);
  // After step(k)'s body (not called for a replayed step). Ends a capture and launches it.
  void End(StepItem& item, TrainState& state, const DeviceContext& ctx);

  int64_t replays() const { return replays_; }

 private:
  std::unique_ptr<DeviceGraph> graph_;
  Shape shape_;  // of the batches seen so far (eager steps), then of the captured one
  int64_t eager_of_shape_ = 0;
  bool capturing_ = false;
  Tensor images_, labels_;  // the captured input: each replay's batch is copied in
  ops::DeferredLoss loss_;  // the captured loss terms
  int64_t replays_ = 0;
};

}  // namespace millrace::pipelines
