#include "pipelines/finite_check.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
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

namespace {

// Whether every element of `values` is finite. An f32 is an Inf or a NaN when its exponent
// field (bits 23..30) is all ones; adding 1 to that field carries into bit 31 then and only
// then, so an OR over (exponent + 1) has bit 31 set when any element is not finite. Integer
// AND, ADD and OR vectorize with plain SSE2 (a max would need SSE4.1, a float sum
// -ffast-math, and a sum could overflow): ~0.1 ns a gradient element on this machine.
bool AllFinite(std::span<const float> values) {
  constexpr uint32_t kExponent = 0x7f800000u, kExponentOne = 0x00800000u;
  uint32_t any = 0;
  for (const float v : values) any |= (std::bit_cast<uint32_t>(v) & kExponent) + kExponentOne;
  return (any & 0x80000000u) == 0;
}

}  // namespace

bool SkipNonFiniteGradients(StepItem& item, TrainState& state) {
  const ops::Parameter* bad = nullptr;
  for (const ops::Parameter* p : state.optimizer->parameters()) {
    if (!p->grad.defined()) continue;
    if (!AllFinite(p->grad.span<float>())) {
      bad = p;
      break;
    }
  }
  if (bad == nullptr) return false;
  if (state.on_nonfinite == NonFinitePolicy::kSkip) {
    item.skipped = true;
    ++state.nonfinite_skipped;
    return true;
  }
  std::ostringstream what;
  what << "a gradient is NaN or Inf (" << bad->name << ") at step " << item.batch.seq
       << " (epoch " << item.batch.epoch << ", batch " << item.batch.index_in_epoch + 1
       << "; the loss was " << item.loss
       << "): training diverged, and no checkpoint is written from these weights; lower the "
          "learning rate (--lr), or skip such batches (--on-nonfinite skip)";
  throw Error(ErrorKind::kData, what.str()).WithStage("backward");
}

}  // namespace millrace::pipelines
