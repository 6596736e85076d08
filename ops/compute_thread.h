// InitComputeThread: the one call that prepares a thread to run ops on a device.
//
//   ops::InitComputeThread(Device::Cpu(), 4);  // on the compute stage's thread, before step 1
//
// CPU: sets the calling thread's oneDNN / OpenMP team to `threads` (see ops/cpu/dnnl_context.h
// for why one thread calls oneDNN and why its team size is per thread). CUDA: checks that the
// build has the CUDA backend and that the device answers (Error(kCuda) saying why not), and
// makes it current; `threads` is unused (the thread submits, the device computes). threads >= 1.
// Affects the calling thread only.
#pragma once

#include "core/device.h"
#include "ops/precision.h"

namespace millrace::ops {

void InitComputeThread(Device device, int threads);

// Throws Error(kCuda) when ops cannot run on `device`: the build has no backend for its kind,
// or no such device answers (the message says which, and why). The CPU always passes.
void CheckComputeDevice(Device device);

// Throws Error(kInvalidArgument) when `device` cannot compute `precision` (ops/precision.h):
// bf16 on a CUDA device of compute capability < 8.0. tf32 there computes as fp32, and the CPU
// ignores the setting: both pass. `device` has passed CheckComputeDevice.
void CheckComputePrecision(Device device, Precision precision);

// Waits until the ops that the calling thread queued on `device` are done, so that a clock read
// next measures them (`millrace bench`), or a fault in them surfaces here (Error(kCuda)). CPU:
// nothing to wait for (its ops return when done). CUDA: waits for the thread's stream (what
// ops::cuda::Synchronize does; ops/cuda/context.h), not for other threads' work.
//
//   for (int i = 0; i < reps; ++i) ops::Gemm(a, b, c);
//   ops::Synchronize(device);
//   const double seconds = elapsed();
void Synchronize(Device device);

}  // namespace millrace::ops
