// Streams and events for ordered device placement (core/device_stream.h) on CUDA.
#include "core/cuda/cuda_check.h"
#include "core/device_stream.h"

namespace millrace {

namespace {

class CudaEvent final : public DeviceEvent {
 public:
  explicit CudaEvent(cuda::Event event) : event_(std::move(event)) {}
  void HostWait() const override { MILLRACE_CUDA_CHECK(cudaEventSynchronize(event_.get())); }
  void StreamWait(void* stream) const override {
    MILLRACE_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), event_.get(), 0));
  }
  double MillisecondsSince(const DeviceEvent& start) const override {
    const auto* from = dynamic_cast<const CudaEvent*>(&start);
    MILLRACE_CHECK(from != nullptr, ErrorKind::kInternal, "MillisecondsSince: not a CUDA event");
    MILLRACE_CUDA_CHECK(cudaEventSynchronize(event_.get()));
    float ms = 0;
    MILLRACE_CUDA_CHECK(cudaEventElapsedTime(&ms, from->event_.get(), event_.get()));
    return ms;
  }

 private:
  cuda::Event event_;
};

}  // namespace

std::shared_ptr<void> MakeCudaStream(int device) {
  MILLRACE_CUDA_CHECK(cudaSetDevice(device));
  cuda::Stream stream = cuda::MakeStream();
  return std::shared_ptr<void>(stream.release(),
                               [](void* s) { cudaStreamDestroy(static_cast<cudaStream_t>(s)); });
}

std::shared_ptr<const DeviceEvent> RecordCudaTimingEvent(void* stream) {
  cudaEvent_t e = nullptr;
  MILLRACE_CUDA_CHECK(cudaEventCreate(&e));
  cuda::Event event(e);
  MILLRACE_CUDA_CHECK(cudaEventRecord(event.get(), static_cast<cudaStream_t>(stream)));
  return std::make_shared<CudaEvent>(std::move(event));
}

std::shared_ptr<const DeviceEvent> RecordCudaEvent(void* stream) {
  cuda::Event event = cuda::MakeEvent();
  MILLRACE_CUDA_CHECK(cudaEventRecord(event.get(), static_cast<cudaStream_t>(stream)));
  return std::make_shared<CudaEvent>(std::move(event));
}

}  // namespace millrace
