// What a body placed on a device (Compute() or Gpu(d)) may ask of its device.
//
//   g.Map<Batch>("to-device", Gpu(0), [](Batch&& b, DeviceContext& ctx) {
//     // queue the copy on ctx.stream() (cudaMemcpyAsync from pinned memory) ...
//     ctx.HandOnInFlight();  // ... and hand the batch on now: the consumer waits on an event
//     return std::move(b);
//   });
//
// A body takes the context as its last argument (Map: fn(In&&, DeviceContext&); FlatMap:
// fn(In&&, Emit<Out>&, DeviceContext&); Sink: fn(T&&, DeviceContext&)); bodies without it are
// called as before. Stages on Cpu() and Io() get a host context (device cpu, no stream).
//
// Thread safety: a context belongs to its device's one thread; use it only inside the body.
#pragma once

#include <memory>

#include "core/device.h"
#include "core/device_stream.h"

namespace millrace {

class DeviceContext {
 public:
  DeviceContext(Device device, void* stream) : device_(device), stream_(stream) {}

  // The device whose thread runs the body: Device::Cpu() for Compute() (and host stages),
  // Device::Cuda(d) for Gpu(d).
  Device device() const { return device_; }
  // The stream the device's stages submit to, in order (a cudaStream_t on Gpu(d)); nullptr on
  // the CPU, where oneDNN's calls return when their work is done.
  void* stream() const { return stream_; }

  // The outputs of this invocation are handed on before the device work that makes them is
  // done: the runtime records an event on stream() after the work queued so far, and the
  // consumer waits for it before its body runs (on its own stream when it is on a GPU: the host
  // does not wait; on the host otherwise). A no-op without a stream.
  void HandOnInFlight() { in_flight_ = stream_ != nullptr; }

  // Runtime side: whether HandOnInFlight() was called since the last call (and resets it), and
  // the event that the outputs then carry.
  bool TakeInFlight() {
    const bool was = in_flight_;
    in_flight_ = false;
    return was;
  }
  std::shared_ptr<const DeviceEvent> Record() const;

  // Makes the work that `ready` marks visible to this context's next work: its stream waits
  // for the event, or (without a stream) the host does.
  void WaitFor(const DeviceEvent& ready) const;

 private:
  Device device_;
  void* stream_;
  bool in_flight_ = false;
};

namespace internal {
// The context of the calling thread: its device's, on a device thread; a host context else.
DeviceContext& CurrentDeviceContext();
// Installs `context` as the calling thread's (nullptr: the host context again).
void SetCurrentDeviceContext(DeviceContext* context);
}  // namespace internal

}  // namespace millrace
