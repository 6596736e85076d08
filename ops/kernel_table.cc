#include "ops/kernel_table.h"

#include <mutex>

#include "core/error.h"
#include "ops/cpu/register.h"

namespace millrace::ops {

void ThrowNoKernel(std::string_view op, Device device) {
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "no kernel for " << op << " on " << device.ToString());
}

void RegisterBackends() {
  static std::once_flag once;
  // The CUDA backend's registration joins here (under MILLRACE_HAVE_CUDA) when it exists.
  std::call_once(once, [] { cpu::RegisterCpuKernels(); });
}

std::vector<Device::Kind> CompiledBackends() { return {Device::Kind::kCpu}; }

}  // namespace millrace::ops
