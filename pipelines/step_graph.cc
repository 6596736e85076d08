#include "pipelines/step_graph.h"

#include "core/error.h"
#include "core/memory.h"
#include "ops/optim/update.h"

namespace millrace::pipelines {

namespace {

// Queues a copy of `src` into `dst` (same shape, dtype and device) on `stream`.
void CopyOnStream(Tensor& dst, const Tensor& src, void* stream) {
  CopyBytesAsync(dst.raw_data(), dst.device(), src.raw_data(), src.device(), src.nbytes(), stream);
}

// A copy of the loss terms on the stream, after the work queued so far: the next replay may
// overwrite the graph's own terms before progress reads these.
ops::DeferredLoss CopyOf(const ops::DeferredLoss& loss, void* stream) {
  ops::DeferredLoss copy;
  copy.divisor = loss.divisor;
  copy.classes = loss.classes;
  copy.terms = Tensor::Empty(loss.terms.shape(), loss.terms.dtype(), loss.terms.device());
  CopyOnStream(copy.terms, loss.terms, stream);
  return copy;
}

}  // namespace

std::string StepGraph::WhyNot(const TrainConfig& config, const std::vector<std::string>& stages,
                              ops::Sequential& model) {
  if (!config.cuda_graphs) return "--no-cuda-graphs";
  const std::vector<std::string> captured = {"forward", "loss", "backward", "prune-mask", "step"};
  if (stages != captured) {
    std::string names;
    for (const std::string& s : stages) names += (names.empty() ? "" : ", ") + s;
    return "the compute stages (" + names +
           ") are not the default ones: a pruning schedule, distillation or a stage of your own "
           "may change tensors between steps";
  }
  if (config.on_nonfinite == NonFinitePolicy::kSkip) {
    return "--on-nonfinite skip reads each loss before its update";
  }
  for (size_t i = 0; i < model.size(); ++i) {
    if (model.layer(i).kind() == "Dropout") {
      return "layer " + model.layer_name(i) + " is a Dropout, whose mask the host draws each step";
    }
  }
  return {};
}

bool StepGraph::Begin(StepItem& item, TrainState& state, const DeviceContext& ctx) {
  void* stream = ctx.stream();
  const Shape& shape = item.batch.images.shape();
  if (graph_ != nullptr && shape == images_.shape() &&
      item.batch.labels.shape() == labels_.shape()) {
    MILLRACE_CHECK(state.steps_done == item.batch.seq, ErrorKind::kInternal,
                   "forward of batch " << item.batch.seq << " after " << state.steps_done
                                       << " optimizer steps: the compute stages ran out of order");
    CopyOnStream(images_, item.batch.images, stream);
    CopyOnStream(labels_, item.batch.labels, stream);
    // The step stage's bookkeeping, and this step's optimizer scalars queued for the graph.
    const double factor = state.schedule ? state.schedule->Factor(state.steps_done) : 1.0;
    item.lr = state.base_lr * factor;
    state.optimizer->set_lr(item.lr);
    {
      ops::StageUpdatesForReplay staging;
      state.optimizer->Step();
    }
    graph_->Launch(stream);
    item.pending_loss = CopyOf(loss_, stream);
    ++state.steps_done;
    ++replays_;
    item.replayed = true;
    return true;
  }
  if (shape != shape_) {
    shape_ = shape;
    eager_of_shape_ = 0;
  }
  if (graph_ != nullptr || eager_of_shape_ < 1) return false;  // eagerly
  // Capture this step: its input at addresses of its own, then everything the stages queue.
  images_ = Tensor::Empty(shape, item.batch.images.dtype(), item.batch.images.device());
  labels_ = Tensor::Empty(item.batch.labels.shape(), item.batch.labels.dtype(),
                          item.batch.labels.device());
  CopyOnStream(images_, item.batch.images, stream);
  CopyOnStream(labels_, item.batch.labels, stream);
  item.batch.images = images_.View();
  item.batch.labels = labels_.View();
  BeginDeviceCapture(stream);
  capturing_ = true;
  return false;
}

void StepGraph::End(StepItem& item, TrainState& state, const DeviceContext& ctx) {
  if (!capturing_) {
    ++eager_of_shape_;
    return;
  }
  void* stream = ctx.stream();
  capturing_ = false;
  try {
    graph_ = EndDeviceCapture(stream);
  } catch (const Error& e) {
    throw Error(ErrorKind::kCuda, e.message() +
                                      "; the training step could not be captured as a "
                                      "CUDA Graph: run with --no-cuda-graphs")
        .WithStage("step");
  }
  loss_ = std::move(item.pending_loss);
  MILLRACE_CHECK(loss_.defined(), ErrorKind::kInternal,
                 "the captured step left no loss on the device");
  // The capture ran nothing. Its Step() counted the step and recorded the update without the
  // copy of its scalars: stage them for the same count, then run the graph.
  state.optimizer->set_steps(state.optimizer->steps() - 1);
  {
    ops::StageUpdatesForReplay staging;
    state.optimizer->Step();
  }
  graph_->Launch(stream);
  item.pending_loss = CopyOf(loss_, stream);
}

}  // namespace millrace::pipelines
