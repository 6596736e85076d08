// The CUDA side of core/memory.h and core/device.h in a build without CUDA.
#include "core/device.h"
#include "core/device_graph.h"
#include "core/device_stream.h"
#include "core/error.h"
#include "core/memory.h"

namespace millrace {

int CudaDeviceCount() { return 0; }
std::string CudaUnavailableReason() {
  return "this build has no CUDA (MILLRACE_CUDA=OFF or no nvcc)";
}

std::shared_ptr<void> MakeCudaStream(int device) {
  MILLRACE_THROW(ErrorKind::kCuda, "a stream on cuda:" << device << " was asked for, but "
                                                       << CudaUnavailableReason());
}
void BeginDeviceCapture(void*) {
  MILLRACE_THROW(ErrorKind::kCuda,
                 "a CUDA graph capture was asked for, but " << CudaUnavailableReason());
}
std::unique_ptr<DeviceGraph> EndDeviceCapture(void*) {
  MILLRACE_THROW(ErrorKind::kCuda,
                 "a CUDA graph capture was asked for, but " << CudaUnavailableReason());
}
std::shared_ptr<const DeviceEvent> RecordCudaTimingEvent(void*) {
  MILLRACE_THROW(ErrorKind::kCuda, "a CUDA event was asked for, but " << CudaUnavailableReason());
}
std::shared_ptr<const DeviceEvent> RecordCudaEvent(void*) {
  MILLRACE_THROW(ErrorKind::kCuda, "a CUDA event was asked for, but " << CudaUnavailableReason());
}

DeviceMemoryStats CudaMemoryStats(int) { return {}; }

namespace detail {

void* CudaMalloc(size_t, int) {
  MILLRACE_THROW(ErrorKind::kCuda, "device memory requested, but this build has no CUDA");
}
void CudaFree(void*, size_t, int) {}
void* CudaHostAllocPinned(size_t) { return nullptr; }
void CudaHostFreePinned(void*, size_t) {}
void CudaCopy(void*, Device, const void*, Device, size_t) {
  MILLRACE_THROW(ErrorKind::kCuda, "copy to or from a CUDA device, but this build has no CUDA");
}
void CudaCopyAsync(void*, Device, const void*, Device, size_t, void*) {
  MILLRACE_THROW(ErrorKind::kCuda, "copy to or from a CUDA device, but this build has no CUDA");
}
int NewCudaPool() { return 0; }
void SetThreadCudaPool(int) {}
void ReleaseCudaPool(int) {}
void CudaZeroAsync(void*, size_t, int) {
  MILLRACE_THROW(ErrorKind::kCuda, "fill of CUDA memory, but this build has no CUDA");
}

}  // namespace detail
}  // namespace millrace
