#include "pipelines/step.h"

#include "ops/loss/loss.h"
#include "ops/prune/mask.h"
#include "pipelines/finite_check.h"

namespace millrace::pipelines {

namespace {

class FunctionStage final : public ComputeStage {
 public:
  FunctionStage(std::string name, std::function<void(StepItem&, TrainState&)> body)
      : ComputeStage(std::move(name)), body_(std::move(body)) {}
  void Run(StepItem& item, TrainState& state) override { body_(item, state); }

 private:
  std::function<void(StepItem&, TrainState&)> body_;
};

class ForwardStage final : public ComputeStage {
 public:
  ForwardStage() : ComputeStage("forward") {}
  void Run(StepItem& item, TrainState& state) override {
    // step(k-1) must be done before forward(k): the weights are those of a plain loop.
    MILLRACE_CHECK(state.steps_done == item.batch.seq, ErrorKind::kInternal,
                   "forward of batch " << item.batch.seq << " after " << state.steps_done
                                       << " optimizer steps: the compute stages ran out of order");
    item.logits = state.model->Forward(item.batch.images, ops::Mode::kTrain);
  }
};

class LossStage final : public ComputeStage {
 public:
  LossStage() : ComputeStage("loss") {}
  void Run(StepItem& item, TrainState& state) override {
    // On a GPU the loss is read by progress, one step late (no host wait here), unless a
    // non-finite loss must be skipped before backward.
    if (item.logits.device().is_cuda() && state.on_nonfinite == NonFinitePolicy::kFail) {
      ops::DeferredLossResult r =
          ops::SoftmaxCrossEntropyDeferred(item.logits, item.batch.labels, state.label_smoothing);
      item.pending_loss = std::move(r.loss);
      item.dlogits = std::move(r.grad);
      return;
    }
    ops::LossResult r =
        ops::SoftmaxCrossEntropy(item.logits, item.batch.labels, state.label_smoothing);
    item.loss = r.loss;
    item.dlogits = std::move(r.grad);
  }
};

class BackwardStage final : public ComputeStage {
 public:
  BackwardStage() : ComputeStage("backward") {}
  void Run(StepItem& item, TrainState& state) override {
    if (SkipNonFiniteLoss(item, state)) return;
    state.optimizer->ZeroGrad();
    state.model->Backward(item.dlogits);
    item.dlogits = Tensor();
    SkipNonFiniteGradients(item, state);  // before any update: the step then leaves them be
  }
};

// Multiplies each masked Parameter's gradient by its mask. (The optimizer masks too; doing it
// here keeps the masked gradient visible to stages inserted before the step.)
class PruneMaskStage final : public ComputeStage {
 public:
  PruneMaskStage() : ComputeStage("prune-mask") {}
  void Run(StepItem&, TrainState& state) override {
    for (ops::Parameter* p : state.optimizer->parameters()) {
      if (!p->mask.defined() || !p->grad.defined()) continue;
      ops::MaskMultiply(p->grad, p->mask);
    }
  }
};

class StepStage final : public ComputeStage {
 public:
  StepStage() : ComputeStage("step") {}
  void Run(StepItem& item, TrainState& state) override {
    if (item.skipped) {  // a non-finite loss (finite_check.h): the step counts, nothing moves
      ++state.steps_done;
      return;
    }
    const double factor = state.schedule ? state.schedule->Factor(state.steps_done) : 1.0;
    item.lr = state.base_lr * factor;
    state.optimizer->set_lr(item.lr);
    state.optimizer->Step();
    ++state.steps_done;
  }
};

}  // namespace

ComputeStagePtr MakeComputeStage(std::string name,
                                 std::function<void(StepItem&, TrainState&)> body) {
  return std::make_unique<FunctionStage>(std::move(name), std::move(body));
}

std::vector<ComputeStagePtr> DefaultComputeStages() {
  std::vector<ComputeStagePtr> stages;
  stages.push_back(std::make_unique<ForwardStage>());
  stages.push_back(std::make_unique<LossStage>());
  stages.push_back(std::make_unique<BackwardStage>());
  stages.push_back(std::make_unique<PruneMaskStage>());
  stages.push_back(std::make_unique<StepStage>());
  return stages;
}

double PlainStep(const Batch& batch, TrainState& state) {
  state.optimizer->ZeroGrad();
  Tensor logits = state.model->Forward(batch.images, ops::Mode::kTrain);
  ops::LossResult r = ops::SoftmaxCrossEntropy(logits, batch.labels, state.label_smoothing);
  state.model->Backward(r.grad);
  const double factor = state.schedule ? state.schedule->Factor(state.steps_done) : 1.0;
  state.optimizer->set_lr(state.base_lr * factor);
  state.optimizer->Step();
  ++state.steps_done;
  return r.loss;
}

}  // namespace millrace::pipelines
