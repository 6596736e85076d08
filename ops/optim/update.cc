// SgdUpdate(All) and AdamWUpdate(All): checks and backend dispatch.
#include "ops/optim/update.h"

#include <type_traits>

#include "core/error.h"
#include "millrace/config.h"

namespace millrace::ops {
namespace {

void CheckLike(const Tensor& t, const Tensor& w, const char* op, const char* what) {
  MILLRACE_CHECK_ARG(
      t.defined() && t.dtype() == DType::kF32 && t.shape() == w.shape() && t.device() == w.device(),
      op << ": " << what << " must be f32 " << ToString(w.shape()) << " on "
         << w.device().ToString() << " like the weights");
}

}  // namespace

KernelTable<SgdUpdateKernel>& SgdUpdateKernels() {
  static KernelTable<SgdUpdateKernel> table("SgdUpdate");
  return table;
}

KernelTable<AdamWUpdateKernel>& AdamWUpdateKernels() {
  static KernelTable<AdamWUpdateKernel> table("AdamWUpdate");
  return table;
}

static void CheckMask(const Tensor* mask, const Tensor& w, const char* op) {
  if (mask) CheckLike(*mask, w, op, "mask");
}

namespace {

thread_local bool tls_stage_for_replay = false;

template <typename Task>
void StageForReplay(std::span<const Task> tasks, const char* op) {
  const Device device = tasks[0].w->device();
  MILLRACE_CHECK_ARG(device.is_cuda(), op << ": staged for a CUDA Graph replay, but the "
                                             "parameters are on "
                                          << device.ToString());
#if MILLRACE_HAVE_CUDA
  if constexpr (std::is_same_v<Task, SgdUpdateTask>) {
    cuda::StageSgdUpdateForReplay(tasks);
  } else {
    cuda::StageAdamWUpdateForReplay(tasks);
  }
#endif
}

}  // namespace

StageUpdatesForReplay::StageUpdatesForReplay() : previous_(tls_stage_for_replay) {
  tls_stage_for_replay = true;
}
StageUpdatesForReplay::~StageUpdatesForReplay() { tls_stage_for_replay = previous_; }
bool StageUpdatesForReplay::active() { return tls_stage_for_replay; }

void SgdUpdateAll(std::span<const SgdUpdateTask> tasks) {
  if (tasks.empty()) return;
  for (const SgdUpdateTask& t : tasks) {
    MILLRACE_CHECK_ARG(t.w && t.grad && t.w->defined() && t.w->dtype() == DType::kF32,
                       "SgdUpdate: weights must be f32");
    MILLRACE_CHECK_ARG(t.w->device() == tasks[0].w->device(),
                       "SgdUpdate: all parameters of one update must be on one device");
    CheckLike(*t.grad, *t.w, "SgdUpdate", "gradient");
    if (t.config.momentum != 0) {
      MILLRACE_CHECK_ARG(t.momentum_buffer, "SgdUpdate: momentum without a momentum buffer");
      CheckLike(*t.momentum_buffer, *t.w, "SgdUpdate", "momentum buffer");
    }
    CheckMask(t.mask, *t.w, "SgdUpdate");
  }
  if (StageUpdatesForReplay::active()) return StageForReplay(tasks, "SgdUpdate");
  SgdUpdateKernels().Get(tasks[0].w->device())(tasks);
}

void AdamWUpdateAll(std::span<const AdamWUpdateTask> tasks) {
  if (tasks.empty()) return;
  for (const AdamWUpdateTask& t : tasks) {
    MILLRACE_CHECK_ARG(t.w && t.grad && t.m && t.v && t.w->defined() && t.w->dtype() == DType::kF32,
                       "AdamWUpdate: weights must be f32");
    MILLRACE_CHECK_ARG(t.w->device() == tasks[0].w->device(),
                       "AdamWUpdate: all parameters of one update must be on one device");
    CheckLike(*t.grad, *t.w, "AdamWUpdate", "gradient");
    CheckLike(*t.m, *t.w, "AdamWUpdate", "first moment");
    CheckLike(*t.v, *t.w, "AdamWUpdate", "second moment");
    CheckMask(t.mask, *t.w, "AdamWUpdate");
  }
  if (StageUpdatesForReplay::active()) return StageForReplay(tasks, "AdamWUpdate");
  AdamWUpdateKernels().Get(tasks[0].w->device())(tasks);
}

// The single-tensor forms: one task without a mask (grad is not written without one).
void SgdUpdate(Tensor& w, const Tensor& grad, Tensor& momentum_buffer,
               const SgdUpdateConfig& config) {
  const SgdUpdateTask task{&w, const_cast<Tensor*>(&grad), &momentum_buffer, nullptr, config};
  SgdUpdateAll({&task, 1});
}

void AdamWUpdate(Tensor& w, const Tensor& grad, Tensor& m, Tensor& v,
                 const AdamWUpdateConfig& config) {
  const AdamWUpdateTask task{&w, const_cast<Tensor*>(&grad), &m, &v, nullptr, config};
  AdamWUpdateAll({&task, 1});
}

}  // namespace millrace::ops
