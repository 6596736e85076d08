// Caching device allocator and pinned host memory. Freed device blocks go back to a per-device
// cache keyed by size, so a training loop that allocates the same shapes every step calls
// cudaMalloc only in its first step; pinned host blocks are cached the same way (cudaHostAlloc
// costs far more than a copy). Copies and fills queue on the calling thread's stream
// (CurrentCudaStream), so they are ordered with the CUDA backend's kernels.
//
// Why a cache of our own and not cudaMallocAsync's stream-ordered pool: a block freed here is
// reusable at once by the same thread's stream, which is the only one the training step uses,
// and the cache's counters (CudaMemoryStats) and out-of-memory message need no driver query.
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "core/cuda/cuda_check.h"
#include "core/device_stream.h"
#include "core/memory.h"

namespace millrace {

namespace {

std::string Bytes(size_t bytes) {
  char text[32];
  if (bytes >= (size_t{1} << 30)) {
    std::snprintf(text, sizeof text, "%.2f GiB", bytes / double(size_t{1} << 30));
  } else if (bytes >= (size_t{1} << 20)) {
    std::snprintf(text, sizeof text, "%.1f MiB", bytes / double(size_t{1} << 20));
  } else {
    std::snprintf(text, sizeof text, "%zu B", bytes);
  }
  return text;
}

constexpr int kMaxDevices = 16;

class DeviceCache {
 public:
  void* Take(size_t bytes, int device) {
    {
      std::lock_guard lock(mutex_);
      auto& blocks = free_[{device, bytes}];
      DeviceMemoryStats& s = stats_[device];
      if (!blocks.empty()) {
        void* p = blocks.back();
        blocks.pop_back();
        s.cached -= bytes;
        Use(s, bytes);
        return p;
      }
    }
    MILLRACE_CUDA_CHECK(cudaSetDevice(device));
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      const size_t cached = Release(device);  // give cached blocks back and try once more
      status = cudaMalloc(&p, bytes);
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        const DeviceMemoryStats s = Stats(device);
        MILLRACE_THROW(ErrorKind::kCuda,
                       "cuda:" << device << " out of memory: " << Bytes(bytes) << " asked for, "
                               << Bytes(s.in_use) << " in use by tensors, " << Bytes(cached)
                               << " cached (released and retried), peak " << Bytes(s.peak_in_use)
                               << "; a smaller batch needs less (--batch-size)");
      }
    }
    MILLRACE_CUDA_CHECK(status);
    std::lock_guard lock(mutex_);
    DeviceMemoryStats& s = stats_[device];
    ++s.device_allocations;
    Use(s, bytes);
    return p;
  }

  void Give(void* p, size_t bytes, int device) {
    std::lock_guard lock(mutex_);
    free_[{device, bytes}].push_back(p);
    DeviceMemoryStats& s = stats_[device];
    s.in_use -= bytes;
    s.cached += bytes;
  }

  DeviceMemoryStats Stats(int device) {
    std::lock_guard lock(mutex_);
    return device >= 0 && device < kMaxDevices ? stats_[device] : DeviceMemoryStats{};
  }

 private:
  static void Use(DeviceMemoryStats& s, size_t bytes) {
    s.in_use += bytes;
    if (s.in_use > s.peak_in_use) s.peak_in_use = s.in_use;
  }

  // Frees the device's cached blocks (after its queued work, which may still use them);
  // returns how many bytes that was.
  size_t Release(int device) {
    cudaDeviceSynchronize();
    std::lock_guard lock(mutex_);
    size_t released = 0;
    for (auto& [key, blocks] : free_) {
      if (key.first != device) continue;
      for (void* p : blocks) cudaFree(p);
      released += key.second * blocks.size();
      blocks.clear();
    }
    stats_[device].cached -= released;
    return released;
  }

  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;
  DeviceMemoryStats stats_[kMaxDevices];
};

DeviceCache& Cache() {
  // Never destroyed: blocks may be returned by static tensors after main() ends.
  static DeviceCache* cache = new DeviceCache;
  return *cache;
}

class PinnedCache {
 public:
  void* Take(size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      auto& blocks = free_[bytes];
      if (!blocks.empty()) {
        void* p = blocks.back();
        blocks.pop_back();
        return p;
      }
    }
    void* p = nullptr;
    if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  void Give(void* p, size_t bytes) {
    std::lock_guard lock(mutex_);
    free_[bytes].push_back(p);
  }

 private:
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
};

PinnedCache& Pinned() {
  static PinnedCache* cache = new PinnedCache;
  return *cache;
}

int CopyDevice(Device dst_device, Device src_device) {
  return dst_device.is_cuda() ? dst_device.index : src_device.index;
}

}  // namespace

DeviceMemoryStats CudaMemoryStats(int device) { return Cache().Stats(device); }

namespace detail {

void* CudaMalloc(size_t bytes, int device) {
  if (device < 0 || device >= CudaDeviceCount() || device >= kMaxDevices) {
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
  return Pinned().Take(bytes);
}

void CudaHostFreePinned(void* ptr, size_t bytes) { Pinned().Give(ptr, bytes); }

void CudaCopyAsync(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                   void* stream) {
  MILLRACE_CUDA_CHECK(cudaSetDevice(CopyDevice(dst_device, src_device)));
  MILLRACE_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, static_cast<cudaStream_t>(stream)));
}

void CudaCopy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  const int device = CopyDevice(dst_device, src_device);
  auto stream = static_cast<cudaStream_t>(CurrentCudaStream(device));
  CudaCopyAsync(dst, dst_device, src, src_device, bytes, stream);
  MILLRACE_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void CudaZeroAsync(void* ptr, size_t bytes, int device) {
  auto stream = static_cast<cudaStream_t>(CurrentCudaStream(device));
  MILLRACE_CUDA_CHECK(cudaSetDevice(device));
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, stream));
}

}  // namespace detail
}  // namespace millrace
