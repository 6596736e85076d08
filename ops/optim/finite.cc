// AllFinite: checks and backend dispatch.
#include "ops/optim/finite.h"

#include "core/error.h"

namespace millrace::ops {

KernelTable<AllFiniteKernel>& AllFiniteKernels() {
  static KernelTable<AllFiniteKernel> table("AllFinite");
  return table;
}

bool AllFinite(std::span<const Tensor* const> tensors) {
  if (tensors.empty()) return true;
  const Device device = tensors.front()->device();
  for (const Tensor* t : tensors) {
    MILLRACE_CHECK_ARG(t != nullptr && t->defined() && t->dtype() == DType::kF32,
                       "AllFinite: every tensor must be a defined f32 tensor");
    MILLRACE_CHECK_ARG(t->device() == device, "AllFinite: tensors on " << device.ToString()
                                                                       << " and "
                                                                       << t->device().ToString());
  }
  return AllFiniteKernels().Get(device)(tensors);
}

}  // namespace millrace::ops
