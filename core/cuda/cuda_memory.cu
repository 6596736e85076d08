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
#include <set>
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

// The calling thread's graph pool (core/device_graph.h); 0: none.
thread_local int tls_pool = 0;

class DeviceCache {
 public:
  void* Take(size_t bytes, int device) {
    const int pool = tls_pool;
    {
      std::lock_guard lock(mutex_);
      DeviceMemoryStats& s = stats_[device];
      if (pool != 0) {  // the pool's own freed blocks first
        auto& own = pool_free_[pool][{device, bytes}];
        if (!own.empty()) {
          void* p = own.back();
          own.pop_back();
          s.cached -= bytes;
          Use(s, bytes);
          return p;
        }
      }
      auto& blocks = free_[{device, bytes}];
      if (!blocks.empty()) {
        void* p = blocks.back();
        blocks.pop_back();
        s.cached -= bytes;
        Use(s, bytes);
        if (pool != 0) owner_[p] = pool;
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
    if (pool != 0) owner_[p] = pool;
    return p;
  }

  void Give(void* p, size_t bytes, int device) {
    std::lock_guard lock(mutex_);
    DeviceMemoryStats& s = stats_[device];
    s.in_use -= bytes;
    s.cached += bytes;
    if (!owner_.empty()) {
      auto owner = owner_.find(p);
      if (owner != owner_.end()) {
        if (live_pools_.count(owner->second)) {  // a graph may still write it: keep it apart
          pool_free_[owner->second][{device, bytes}].push_back(p);
          return;
        }
        owner_.erase(owner);
      }
    }
    free_[{device, bytes}].push_back(p);
  }

  int NewPool() {
    std::lock_guard lock(mutex_);
    live_pools_.insert(next_pool_);
    return next_pool_++;
  }

  // The pool's freed blocks join the shared cache; its live ones will when freed.
  void ReleasePool(int pool) {
    std::lock_guard lock(mutex_);
    live_pools_.erase(pool);
    auto it = pool_free_.find(pool);
    if (it == pool_free_.end()) return;
    for (auto& [key, blocks] : it->second) {
      for (void* p : blocks) {
        owner_.erase(p);
        free_[key].push_back(p);
      }
    }
    pool_free_.erase(it);
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
    for (auto& [key, blocks] : free_) {  // (a graph pool's blocks stay: a replay writes them)
      if (key.first != device) continue;
      for (void* p : blocks) cudaFree(p);
      released += key.second * blocks.size();
      blocks.clear();
    }
    stats_[device].cached -= released;
    return released;
  }

  using FreeLists = std::map<std::pair<int, size_t>, std::vector<void*>>;  // (device, bytes)
  std::mutex mutex_;
  FreeLists free_;
  DeviceMemoryStats stats_[kMaxDevices];
  // Graph pools: which pool took a block (only blocks taken under a pool), each live pool's
  // freed blocks.
  std::map<void*, int> owner_;
  std::map<int, FreeLists> pool_free_;
  std::set<int> live_pools_;
  int next_pool_ = 1;
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

int NewCudaPool() { return Cache().NewPool(); }
void SetThreadCudaPool(int pool) { tls_pool = pool; }
void ReleaseCudaPool(int pool) { Cache().ReleasePool(pool); }

void CudaZeroAsync(void* ptr, size_t bytes, int device) {
  auto stream = static_cast<cudaStream_t>(CurrentCudaStream(device));
  MILLRACE_CUDA_CHECK(cudaSetDevice(device));
  MILLRACE_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, stream));
}

}  // namespace detail
}  // namespace millrace
