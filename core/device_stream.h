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
  virtual void HostWait() const = 0;                // blocks the calling thread until done
  virtual void StreamWait(void* stream) const = 0;  // the stream's later work waits for it
  // Milliseconds of device time from `start` to this event, both recorded with
  // RecordCudaTimingEvent on one device; waits until this one is done.
  virtual double MillisecondsSince(const DeviceEvent& start) const = 0;
};

// Makes `device` current on the calling thread and creates a non-blocking stream on it; the
// returned handle owns the stream (its get() is the cudaStream_t). Throws Error(kCuda).
std::shared_ptr<void> MakeCudaStream(int device);
// Records an event on `stream` (a cudaStream_t) after the work queued so far.
std::shared_ptr<const DeviceEvent> RecordCudaEvent(void* stream);
// The same with timing (slightly dearer): for MillisecondsSince.
std::shared_ptr<const DeviceEvent> RecordCudaTimingEvent(void* stream);

// The stream (a cudaStream_t) that the calling thread's work on CUDA device `device` goes to:
// its device context's stream on that device's Gpu(d) thread, else a stream of the thread's
// own, made once. Tensor copies and fills and every kernel of the CUDA backend queue on it, so
// that they run in the order the thread issued them (the streams are non-blocking: work on the
// legacy default stream would not be ordered with them). Throws Error(kCuda) without CUDA.
void* CurrentCudaStream(int device);

}  // namespace millrace
