// ReadBack: a pinned scratch per thread and device, grown on demand.
#include "ops/cuda/readback.h"

#include <algorithm>
#include <array>
#include <memory>

#include "core/memory.h"
#include "ops/cuda/context.h"

namespace millrace::ops::cuda {

const void* ReadBack(Device device, const void* src, size_t bytes) {
  constexpr int kMaxDevices = 16;
  thread_local std::array<std::shared_ptr<Storage>, kMaxDevices> scratch;
  cudaStream_t stream = Stream(device);  // checks the device index
  std::shared_ptr<Storage>& host = scratch[device.index];
  if (!host || host->bytes() < bytes) {
    // The previous scratch has no copy in flight: every ReadBack waits for its copy.
    host = Storage::Allocate(std::max<size_t>(bytes, 4096), Device::Cpu(), HostMemory::kPinned);
  }
  if (bytes == 0) return host->data();
  MILLRACE_CUDA_CHECK(cudaMemcpyAsync(host->data(), src, bytes, cudaMemcpyDeviceToHost, stream));
  MILLRACE_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host->data();
}

}  // namespace millrace::ops::cuda
