// Bringing a kernel's small result to the host: the one place where a CUDA op of millrace_ops
// waits for its stream. Ops whose result is a host value (a loss as a double, CountZeros, the
// classification counts, the pruning scores) copy it into the calling thread's pinned scratch
// with cudaMemcpyAsync on Stream(device), then synchronise that stream: a host sync by contract,
// since the caller asked for a host value. Nothing else in the CUDA backend synchronises.
//
//   const double* rows = static_cast<const double*>(cuda::ReadBack(device, row_loss, bytes));
//
// Thread safety: the scratch is the calling thread's own; it is valid until the thread's next
// ReadBack on the same device.
#pragma once

#include <cstddef>

#include "core/device.h"

namespace millrace::ops::cuda {

// Copies `bytes` at `src` (memory on `device`) into the thread's pinned scratch, waits for
// Stream(device), and returns the scratch. The scratch grows, never shrinks.
const void* ReadBack(Device device, const void* src, size_t bytes);

}  // namespace millrace::ops::cuda
