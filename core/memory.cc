#include "core/memory.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

// Host tensors come from oneTBB's scalable allocator: it keeps freed large blocks in its
// large-object cache and hands them back on the next request of that size, where glibc's
// malloc returned the cnn's per-step activations to the kernel and took them back as ~1,200
// page faults a step (docs/BENCHMARKS.md, "Allocation"). Sanitizer builds keep glibc's
// allocator, which AddressSanitizer instruments.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MILLRACE_HOST_MALLOC_GLIBC 1
#endif
#ifndef MILLRACE_HOST_MALLOC_GLIBC
#include <tbb/scalable_allocator.h>
#endif

namespace millrace {

namespace {
void* HostAlloc(size_t bytes) {
#ifdef MILLRACE_HOST_MALLOC_GLIBC
  return std::aligned_alloc(kHostAlignment, bytes);
#else
  return scalable_aligned_malloc(bytes, kHostAlignment);
#endif
}

void HostFree(void* data) {
#ifdef MILLRACE_HOST_MALLOC_GLIBC
  std::free(data);
#else
  scalable_aligned_free(data);
#endif
}
}  // namespace

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
      data = HostAlloc(request);
      if (data == nullptr) throw std::bad_alloc();
    }
  }
  return std::shared_ptr<Storage>(new Storage(data, bytes, device, pinned));
}

Storage::~Storage() {
  if (device_.is_cuda()) {
    detail::CudaFree(data_, bytes_, device_.index);
  } else if (pinned_) {
    detail::CudaHostFreePinned(data_, AllocationSize(bytes_));
  } else {
    HostFree(data_);
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

void CopyBytesAsync(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                    void* stream) {
  MILLRACE_CHECK_ARG(dst_device.is_cuda() || src_device.is_cuda(),
                     "CopyBytesAsync: neither side is a CUDA device");
  if (bytes == 0) return;
  detail::CudaCopyAsync(dst, dst_device, src, src_device, bytes, stream);
}

}  // namespace millrace
