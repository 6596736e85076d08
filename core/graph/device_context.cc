#include "core/graph/device_context.h"

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
}  // namespace millrace
