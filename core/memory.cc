#include "core/memory.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace millrace {

std::shared_ptr<Storage> Storage::Allocate(size_t bytes, Device device, HostMemory host) {
  const size_t request = AllocationSize(bytes);
  void* data = nullptr;
  bool pinned = false;
  if (device.is_cuda()) {
    data = detail::CudaMalloc(request, device.index);
  } else {
    if (host == HostMemory::kPinned) {
      data = detail::CudaHostAllocPinned(request);
      pinned = data != nullptr;
    }
    if (data == nullptr) {
      data = std::aligned_alloc(kHostAlignment, request);
      if (data == nullptr) throw std::bad_alloc();
    }
  }
  return std::shared_ptr<Storage>(new Storage(data, bytes, device, pinned));
}

Storage::~Storage() {
  if (device_.is_cuda()) {
    detail::CudaFree(data_, bytes_, device_.index);
  } else if (pinned_) {
    detail::CudaHostFreePinned(data_);
  } else {
    std::free(data_);
  }
}

void CopyBytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  detail::CudaCopy(dst, dst_device, src, src_device, bytes);
}

}  // namespace millrace
