// SgdUpdate and AdamWUpdate: checks and backend dispatch.
#include "ops/optim/update.h"

#include "core/error.h"

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

void SgdUpdate(Tensor& w, const Tensor& grad, Tensor& momentum_buffer,
               const SgdUpdateConfig& config) {
  MILLRACE_CHECK_ARG(w.defined() && w.dtype() == DType::kF32, "SgdUpdate: weights must be f32");
  CheckLike(grad, w, "SgdUpdate", "gradient");
  if (config.momentum != 0) CheckLike(momentum_buffer, w, "SgdUpdate", "momentum buffer");
  SgdUpdateKernels().Get(w.device())(w, grad, momentum_buffer, config);
}

void AdamWUpdate(Tensor& w, const Tensor& grad, Tensor& m, Tensor& v,
                 const AdamWUpdateConfig& config) {
  MILLRACE_CHECK_ARG(w.defined() && w.dtype() == DType::kF32, "AdamWUpdate: weights must be f32");
  CheckLike(grad, w, "AdamWUpdate", "gradient");
  CheckLike(m, w, "AdamWUpdate", "first moment");
  CheckLike(v, w, "AdamWUpdate", "second moment");
  AdamWUpdateKernels().Get(w.device())(w, grad, m, v, config);
}

}  // namespace millrace::ops
