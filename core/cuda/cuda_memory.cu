// Caching device allocator and pinned host memory. Freed device blocks go back to a per-device
// cache keyed by size, so a training loop that allocates the same shapes every step calls
// cudaMalloc only in its first step.
#include <map>
#include <mutex>
#include <vector>

#include "core/cuda/cuda_check.h"
#include "core/memory.h"

namespace millrace::detail {

namespace {
class DeviceCache {
 public:
  void* Take(size_t bytes, int device) {
    {
      std::lock_guard lock(mutex_);
      auto& blocks = free_[{device, bytes}];
      if (!blocks.empty()) {
        void* p = blocks.back();
        blocks.pop_back();
        return p;
      }
    }
    MILLRACE_CUDA_CHECK(cudaSetDevice(device));
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      Release(device);  // give cached blocks back and try once more
      cudaGetLastError();
      MILLRACE_CUDA_CHECK(cudaMalloc(&p, bytes));
    } else {
      MILLRACE_CUDA_CHECK(status);
    }
    return p;
  }
  void Give(void* p, size_t bytes, int device) {
    std::lock_guard lock(mutex_);
    free_[{device, bytes}].push_back(p);
  }

 private:
  void Release(int device) {
    std::lock_guard lock(mutex_);
    for (auto& [key, blocks] : free_) {
      if (key.first != device) continue;
      for (void* p : blocks) cudaFree(p);
      blocks.clear();
    }
  }
  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;
};

DeviceCache& Cache() {
  // Never destroyed: blocks may be returned by static tensors after main() ends.
  static DeviceCache* cache = new DeviceCache;
  return *cache;
}
}  // namespace

void* CudaMalloc(size_t bytes, int device) {
  if (device >= CudaDeviceCount()) {
    MILLRACE_THROW(ErrorKind::kCuda, "cuda:" << device << " requested: " << CudaUnavailableReason()
                                             << " (" << CudaDeviceCount() << " devices)");
  }
  return Cache().Take(bytes, device);
}

void CudaFree(void* ptr, size_t bytes, int device) {
  Cache().Give(ptr, AllocationSize(bytes), device);
}

void* CudaHostAllocPinned(size_t bytes) {
  if (CudaDeviceCount() == 0) return nullptr;
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void CudaHostFreePinned(void* ptr) { cudaFreeHost(ptr); }

void CudaCopy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (dst_device.is_cuda()) {
    MILLRACE_CUDA_CHECK(cudaSetDevice(dst_device.index));
  } else if (src_device.is_cuda()) {
    MILLRACE_CUDA_CHECK(cudaSetDevice(src_device.index));
  }
  MILLRACE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

}  // namespace millrace::detail
