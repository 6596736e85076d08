#include "ops/compute_thread.h"

#include "core/error.h"
#include "ops/cpu/dnnl_context.h"

namespace millrace::ops {

void InitComputeThread(Device device, int threads) {
  MILLRACE_CHECK_ARG(threads >= 1, "InitComputeThread: need at least 1 thread, got " << threads);
  if (device.is_cpu()) {
    cpu::SetComputeThreads(threads);
    return;
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "no compute backend for " << device.ToString() << " in this build");
}

}  // namespace millrace::ops
