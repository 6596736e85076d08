#include "ops/compute_thread.h"

#include <string>

#include "core/device_stream.h"
#include "core/error.h"
#include "millrace/config.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/kernel_table.h"
#if MILLRACE_HAVE_CUDA
#include "ops/cuda/context.h"
#endif

namespace millrace::ops {

void CheckComputeDevice(Device device) {
  if (device.is_cpu()) return;
  bool compiled = false;
  for (Device::Kind kind : CompiledBackends()) compiled |= kind == device.kind;
  MILLRACE_CHECK(compiled, ErrorKind::kCuda,
                 "no compute backend for " << device.ToString() << " in this build ("
                                           << CudaUnavailableReason() << ")");
  MILLRACE_CHECK(device.index < CudaDeviceCount(), ErrorKind::kCuda,
                 device.ToString()
                     << " was asked for, but "
                     << (CudaDeviceCount() == 0
                             ? CudaUnavailableReason()
                             : "this machine has " + std::to_string(CudaDeviceCount()) +
                                   " CUDA devices"));
}

void CheckComputePrecision(Device device, Precision precision) {
  if (device.is_cpu() || precision != Precision::kBf16) return;
#if MILLRACE_HAVE_CUDA
  const int capability = cuda::ComputeCapability(device);
  MILLRACE_CHECK_ARG(capability >= 80,
                     "precision bf16 needs a device of compute capability >= 8.0; "
                         << device.ToString() << " has " << capability / 10 << "."
                         << capability % 10 << " (use fp32 or tf32)");
#endif
}

void InitComputeThread(Device device, int threads) {
  MILLRACE_CHECK_ARG(threads >= 1, "InitComputeThread: need at least 1 thread, got " << threads);
  if (device.is_cpu()) {
    cpu::SetComputeThreads(threads);
    return;
  }
  CheckComputeDevice(device);
  CurrentCudaStream(device.index);  // makes the thread's stream (and the device's context) now
#if MILLRACE_HAVE_CUDA
  // Asked once per device and cached (the precision's TF32 / bf16 support): here, not in a step
  // that a CUDA Graph may be capturing.
  cuda::ComputeCapability(device);
#endif
}

void Synchronize(Device device) {
  if (device.is_cpu()) return;
#if MILLRACE_HAVE_CUDA
  cuda::Synchronize(device);
#else
  MILLRACE_THROW(ErrorKind::kCuda, "Synchronize: no compute backend for "
                                       << device.ToString() << " in this build ("
                                       << CudaUnavailableReason() << ")");
#endif
}

}  // namespace millrace::ops
