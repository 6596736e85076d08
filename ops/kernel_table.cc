#include "ops/kernel_table.h"

#include <mutex>

#include "core/error.h"
#include "millrace/config.h"
#include "ops/cpu/register.h"
#if MILLRACE_HAVE_CUDA
#include "ops/cuda/register.h"
#endif

namespace millrace::ops {

void ThrowNoKernel(std::string_view op, Device device) {
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "no kernel for " << op << " on " << device.ToString());
}

void RegisterBackends() {
  static std::once_flag once;
  std::call_once(once, [] {
    cpu::RegisterCpuKernels();
#if MILLRACE_HAVE_CUDA
    cuda::RegisterCudaKernels();
#endif
  });
}

std::vector<Device::Kind> CompiledBackends() {
#if MILLRACE_HAVE_CUDA
  return {Device::Kind::kCpu, Device::Kind::kCuda};
#else
  return {Device::Kind::kCpu};
#endif
}

}  // namespace millrace::ops
