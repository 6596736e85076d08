#include "pipelines/finite_check.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace millrace::pipelines {

bool SkipNonFiniteLoss(StepItem& item, TrainState& state) {
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

}  // namespace millrace::pipelines
