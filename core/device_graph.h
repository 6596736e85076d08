// Work queued on one stream, captured once and replayed (CUDA Graphs), without CUDA headers.
//
//   BeginDeviceCapture(stream);           // the thread's work on `stream` is recorded, not run
//   ... queue one training step ...
//   std::unique_ptr<DeviceGraph> step = EndDeviceCapture(stream);  // instantiated
//   step->Launch(stream);                 // runs it (the capture ran nothing); again each step
//
// Memory: device blocks taken while a capture is open on the calling thread belong to the
// graph (a private pool): when their tensors go, the blocks stay out of the caching
// allocator's shared cache, where another tensor could take an address a replay writes, until
// the graph is destroyed. Within the capture they are reused like any cached block. A capture must
// not allocate pinned memory, synchronise, or read a result on the host: such calls fail, and the
// failure names the call. On a build without CUDA the functions throw Error(kCuda).
//
// Thread safety: capture on the thread that queues the work; Launch from any thread.
#pragma once

#include <memory>

namespace millrace {

class DeviceGraph {
 public:
  virtual ~DeviceGraph() = default;
  // Queues one replay of the captured work on `stream` (a cudaStream_t).
  virtual void Launch(void* stream) const = 0;
};

// Starts recording the calling thread's work on `stream`.
void BeginDeviceCapture(void* stream);
// Stops recording and instantiates the graph. Throws Error(kCuda) naming the call that broke
// the capture, if one did.
std::unique_ptr<DeviceGraph> EndDeviceCapture(void* stream);

}  // namespace millrace
