// Where a stage's body runs, and how many invocations of it may run at once.
//   Io(n)      bodies on the graph's Boost.Asio io_context (GraphOptions::io_threads threads);
//              io/ code reaches the same context through Graph::io_context().
//   Cpu(n)     bodies on oneTBB, at most n at once. The cpu stages of a graph share one
//              task_arena as wide as their concurrencies together (oneTBB workers then stay in
//              one arena); each stage's limit n is kept by the runtime.
//   Compute()  bodies on the one host thread that does compute on the CPU (oneDNN's caller).
//   Gpu(d)     bodies on the one host thread that submits work to CUDA device d, on its stream.
// Compute() and Gpu(d) have one thread each, shared by every stage placed there: their
// concurrency is always 1. GraphOptions::device_thread_init runs first on each such thread.
//
// Ordered device placement: the stages placed on one device run in sequence order across
// those stages. The device holds one item at a time: item k passes every stage of the device
// that it reaches through device-to-device channels (forward, loss, backward, prune-mask, step)
// before item k+1 enters the device. Exact synchronous SGD is this guarantee. A stage whose
// inputs all come from outside the device is an entry: it takes its next item only once the
// item inside has left (or was dropped). An item that leaves the device and comes back enters
// it again like a new one. Bodies there may take a DeviceContext (core/graph/device_context.h).
#pragma once

#include <string>

#include "core/device.h"

namespace millrace {

struct Placement {
  enum class Kind : unsigned char { kIo, kCpu, kCompute, kGpu };

  Kind kind = Kind::kCpu;
  int concurrency = 1;  // invocations at once; 1 for kCompute and kGpu
  int device = 0;       // the CUDA device of kGpu

  // The device whose dedicated thread runs the stage (Device::Cpu() for Compute()); only
  // meaningful for kCompute and kGpu.
  Device device_of_thread() const;
  bool has_dedicated_thread() const { return kind == Kind::kCompute || kind == Kind::kGpu; }
  std::string ToString() const;  // "io(1)", "cpu(2)", "compute", "gpu:0"
};

// Each throws millrace::Error (kInvalidArgument) for a concurrency < 1 or a device < 0.
Placement Io(int concurrency = 1);
Placement Cpu(int concurrency = 1);
Placement Compute();
Placement Gpu(int device = 0);

}  // namespace millrace
