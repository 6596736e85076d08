#include "core/graph/device_context.h"

#include <array>

#include "core/error.h"

namespace millrace {

std::shared_ptr<const DeviceEvent> DeviceContext::Record() const {
  if (stream_ == nullptr) return nullptr;
  return RecordCudaEvent(stream_);
}

void DeviceContext::WaitFor(const DeviceEvent& ready) const {
  if (stream_ != nullptr) {
    ready.StreamWait(stream_);
  } else {
    ready.HostWait();
  }
}

namespace internal {

namespace {
thread_local DeviceContext tls_host_context(Device::Cpu(), nullptr);
thread_local DeviceContext* tls_context = nullptr;
}  // namespace

DeviceContext& CurrentDeviceContext() {
  return tls_context != nullptr ? *tls_context : tls_host_context;
}

void SetCurrentDeviceContext(DeviceContext* context) { tls_context = context; }

}  // namespace internal

void* CurrentCudaStream(int device) {
  constexpr int kMaxDevices = 16;
  MILLRACE_CHECK_ARG(device >= 0 && device < kMaxDevices, "no stream for cuda:" << device);
  const DeviceContext& context = internal::CurrentDeviceContext();
  if (context.device() == Device::Cuda(device) && context.stream() != nullptr) {
    return context.stream();
  }
  thread_local std::array<std::shared_ptr<void>, kMaxDevices> own;
  if (!own[device]) own[device] = MakeCudaStream(device);
  return own[device].get();
}

}  // namespace millrace
