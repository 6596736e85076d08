// The device's side of ordered device placement, without CUDA headers: a stream to submit to
// and an event that marks queued work. On a build without CUDA (or a machine without a GPU)
// the functions throw Error(kCuda) saying why.
#pragma once

#include <memory>

namespace millrace {

// Device work queued on a stream and not yet done. An item that carries one is waited for by
// its consumer: on the consumer's stream when it is on a GPU (the host does not wait), on the
// host otherwise.
class DeviceEvent {
 public:
  virtual ~DeviceEvent() = default;
  virtual void HostWait() const = 0;               // blocks the calling thread until done
  virtual void StreamWait(void* stream) const = 0;  // the stream's later work waits for it
};

// Makes `device` current on the calling thread and creates a non-blocking stream on it; the
// returned handle owns the stream (its get() is the cudaStream_t). Throws Error(kCuda).
std::shared_ptr<void> MakeCudaStream(int device);
// Records an event on `stream` (a cudaStream_t) after the work queued so far.
std::shared_ptr<const DeviceEvent> RecordCudaEvent(void* stream);

}  // namespace millrace
