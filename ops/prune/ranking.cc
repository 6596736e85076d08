// L1Scores and ChannelL2Norms: checks and backend dispatch.
#include "ops/prune/ranking.h"

#include "core/error.h"

namespace millrace::ops {
namespace {

void CheckValueAndMask(const Tensor& value, const Tensor& mask, const char* op) {
  MILLRACE_CHECK_ARG(value.defined() && value.dtype() == DType::kF32,
                     op << ": the value must be a defined f32 tensor");
  MILLRACE_CHECK_ARG(
      !mask.defined() || (mask.dtype() == DType::kF32 && mask.shape() == value.shape() &&
                          mask.device() == value.device()),
      op << ": the mask must be f32 " << ToString(value.shape()) << " on "
         << value.device().ToString() << " like the value");
}

}  // namespace

KernelTable<L1ScoresKernel>& L1ScoresKernels() {
  static KernelTable<L1ScoresKernel> table("L1Scores");
  return table;
}

KernelTable<ChannelL2NormsKernel>& ChannelL2NormsKernels() {
  static KernelTable<ChannelL2NormsKernel> table("ChannelL2Norms");
  return table;
}

KernelTable<L1PruneKernel>& L1PruneKernels() {
  static KernelTable<L1PruneKernel> table("L1Prune");
  return table;
}

void L1Scores(const Tensor& value, const Tensor& mask, std::vector<float>& scores,
              std::vector<int64_t>& index) {
  CheckValueAndMask(value, mask, "L1Scores");
  L1ScoresKernels().Get(value.device())(value, mask, scores, index);
}

void ChannelL2Norms(const Tensor& value, const Tensor& mask, std::vector<int64_t>& alive,
                    std::vector<float>& norms) {
  CheckValueAndMask(value, mask, "ChannelL2Norms");
  MILLRACE_CHECK_ARG(value.ndim() >= 2,
                     "ChannelL2Norms: value " << ToString(value.shape()) << " needs 2 dimensions");
  ChannelL2NormsKernels().Get(value.device())(value, mask, alive, norms);
}

}  // namespace millrace::ops
