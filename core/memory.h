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

// Queues the copy on `stream` (a cudaStream_t) and returns: the caller synchronises (an event,
// or the stream) before it reads dst or reuses src. From pinned host memory the copy runs
// beside the stream's other work; one side must be a CUDA device.
void CopyBytesAsync(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                    void* stream);

// The caching device allocator's counters for one device. A training loop that allocates the
// same shapes every step reaches a steady state after its first step: in_use and cached stop
// growing, and device_allocations (cudaMalloc calls) stays put.
struct DeviceMemoryStats {
  size_t in_use = 0;               // bytes held by live tensors (rounded as allocated)
  size_t cached = 0;               // bytes freed by tensors and kept for reuse
  size_t peak_in_use = 0;          // the most in_use has been
  int64_t device_allocations = 0;  // cudaMalloc calls so far
};
// All zeros in a build without CUDA or for a device never allocated on.
DeviceMemoryStats CudaMemoryStats(int device);

namespace detail {
// The CUDA side of memory.h, implemented in core/cuda/ (or core/cuda/no_cuda.cc).
// The caching allocator. Out of memory, it gives its cached blocks back and retries once; then
// it throws Error(kCuda) naming the bytes asked for, those in use and cached.
void* CudaMalloc(size_t bytes, int device);
void CudaFree(void* ptr, size_t bytes, int device);  // returns to the cache
// Pinned host memory, cached by size like device memory (cudaHostAlloc is slow): nullptr when
// CUDA is unavailable. A block freed here must have no copy in flight.
void* CudaHostAllocPinned(size_t bytes);
void CudaHostFreePinned(void* ptr, size_t bytes);
// Copies on the thread's CurrentCudaStream of the device involved, then waits for it.
void CudaCopy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void CudaCopyAsync(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                   void* stream);
// Queues a zero fill of device memory on the thread's CurrentCudaStream(device).
void CudaZeroAsync(void* ptr, size_t bytes, int device);
// A private pool for a graph capture (core/device_graph.h): while the calling thread's pool is
// set (not 0), the blocks it takes from the allocator belong to that pool; ReleaseCudaPool gives
// a pool's free blocks to the shared cache and makes its live ones return there when freed.
int NewCudaPool();
void SetThreadCudaPool(int pool);
void ReleaseCudaPool(int pool);
}  // namespace detail

}  // namespace millrace
