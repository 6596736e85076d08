// The CUDA backend's registration: every op's CUDA kernels into the op's KernelTable. Only in a
// build with MILLRACE_HAVE_CUDA; called once by RegisterBackends().
#pragma once

namespace millrace::ops::cuda {

void RegisterCudaKernels();

}  // namespace millrace::ops::cuda
