#include "pipelines/finite_check.h"

#include <cmath>
#include <span>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "ops/loss/loss.h"
#include "ops/optim/finite.h"

namespace millrace::pipelines {

bool SkipNonFiniteLoss(StepItem& item, TrainState& state) {
  if (item.pending_loss.defined()) return false;  // read (and checked) by progress: ResolveLoss
  if (std::isfinite(item.loss)) return false;
  if (state.on_nonfinite == NonFinitePolicy::kSkip) {
    item.skipped = true;
    ++state.nonfinite_skipped;
    return true;
  }
  std::ostringstream what;
  what << "the loss is " << item.loss << " at step " << item.batch.seq << " (epoch "
       << item.batch.epoch << ", batch " << item.batch.index_in_epoch + 1
       << "): training diverged, and no checkpoint is written from these weights; lower the "
          "learning rate (--lr), or skip such batches (--on-nonfinite skip)";
  throw Error(ErrorKind::kData, what.str()).WithStage("loss");
}

void ResolveLoss(StepItem& item) {
  if (!item.pending_loss.defined()) return;
  item.loss = ops::ReadDeferredLoss(item.pending_loss, item.batch.labels);
  item.pending_loss = ops::DeferredLoss();
  if (std::isfinite(item.loss)) return;
  std::ostringstream what;
  what << "the loss is " << item.loss << " at step " << item.batch.seq << " (epoch "
       << item.batch.epoch << ", batch " << item.batch.index_in_epoch + 1
       << "; on a GPU a loss is read when the next step is queued, and a NaN or Inf gradient "
          "shows as this loss): training diverged, and no checkpoint is written from these "
          "weights; lower the learning rate (--lr), or skip such batches (--on-nonfinite skip)";
  throw Error(ErrorKind::kData, what.str()).WithStage("loss");
}

bool SkipNonFiniteGradients(StepItem& item, TrainState& state) {
  // On a GPU under kFail the check would cost a host wait per step: a non-finite gradient
  // makes the next step's loss non-finite, which ResolveLoss reports.
  if (item.pending_loss.defined()) return false;
  // One check over every gradient (on a GPU: one read back); which one only when one is bad.
  std::vector<const Tensor*> grads;
  for (const ops::Parameter* p : state.optimizer->parameters()) {
    if (p->grad.defined()) grads.push_back(&p->grad);
  }
  if (ops::AllFinite(grads)) return false;
  const ops::Parameter* bad = nullptr;
  for (const ops::Parameter* p : state.optimizer->parameters()) {
    const Tensor* grad = &p->grad;
    if (p->grad.defined() && !ops::AllFinite(std::span<const Tensor* const>(&grad, 1))) {
      bad = p;
      break;
    }
  }
  MILLRACE_CHECK(bad != nullptr, ErrorKind::kInternal, "AllFinite disagrees with itself");
  if (state.on_nonfinite == NonFinitePolicy::kSkip) {
    item.skipped = true;
    ++state.nonfinite_skipped;
    return true;
  }
  std::ostringstream what;
  what << "a gradient is NaN or Inf (" << bad->name << ") at step " << item.batch.seq << " (epoch "
       << item.batch.epoch << ", batch " << item.batch.index_in_epoch + 1 << "; the loss was "
       << item.loss
       << "): training diverged, and no checkpoint is written from these weights; lower the "
          "learning rate (--lr), or skip such batches (--on-nonfinite skip)";
  throw Error(ErrorKind::kData, what.str()).WithStage("backward");
}

}  // namespace millrace::pipelines
