// Raw memory behind tensors: aligned host memory, pinned host memory (page-locked, for fast
// copies to a GPU) and device memory from a caching allocator, so that the hot path never
// calls cudaMalloc or cudaFree.
#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"

namespace millrace {

// Host allocations are aligned to this many bytes (a cache line, and AVX-512's vector width).
inline constexpr size_t kHostAlignment = 64;

// The size every allocation is rounded up to: a multiple of kHostAlignment, never 0 (so a
// zero-byte tensor still gets a distinct, valid pointer). Device caches key blocks by it.
inline size_t AllocationSize(size_t bytes) {
  const size_t padded = ((bytes + kHostAlignment - 1) / kHostAlignment) * kHostAlignment;
  return padded == 0 ? kHostAlignment : padded;
}

enum class HostMemory : unsigned char { kPageable, kPinned };

// A block of memory on one device. Frees itself (or returns to its cache) when destroyed.
class Storage {
 public:
  // Allocates `bytes` on `device`. Pinned host memory needs CUDA; without it the request falls
  // back to pageable memory. Throws Error(kCuda) when device memory is asked for and no CUDA
  // device answers.
  static std::shared_ptr<Storage> Allocate(size_t bytes, Device device,
                                           HostMemory host = HostMemory::kPageable);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const noexcept { return data_; }
  size_t bytes() const noexcept { return bytes_; }
  Device device() const noexcept { return device_; }
  bool pinned() const noexcept { return pinned_; }

 private:
  Storage(void* data, size_t bytes, Device device, bool pinned)
      : data_(data), bytes_(bytes), device_(device), pinned_(pinned) {}

  void* data_;
  size_t bytes_;
  Device device_;
  bool pinned_;
};

// Copies `bytes` between any two devices (host<->host is memcpy; anything touching CUDA waits
// for the copy to complete). Throws Error(kCuda) in a build without CUDA.
void CopyBytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

namespace detail {
// The CUDA side of memory.h, implemented in core/cuda/ (or core/cuda/no_cuda.cc).
void* CudaMalloc(size_t bytes, int device);          // caching allocator
void CudaFree(void* ptr, size_t bytes, int device);  // returns to the cache
void* CudaHostAllocPinned(size_t bytes);             // nullptr when CUDA is unavailable
void CudaHostFreePinned(void* ptr);
void CudaCopy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
}  // namespace detail

}  // namespace millrace
