// InitComputeThread: the one call that prepares a thread to run ops on a device.
//
//   ops::InitComputeThread(Device::Cpu(), 4);  // on the compute stage's thread, before step 1
//
// CPU: sets the calling thread's oneDNN / OpenMP team to `threads` (see ops/cpu/dnnl_context.h
// for why one thread calls oneDNN and why its team size is per thread). A cuda device throws
// Error(kInvalidArgument) "no compute backend for cuda:N in this build": the CUDA backend does
// not exist yet. threads >= 1. Affects the calling thread only.
#pragma once

#include "core/device.h"

namespace millrace::ops {

void InitComputeThread(Device device, int threads);

}  // namespace millrace::ops
