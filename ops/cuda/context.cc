#include "ops/cuda/context.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>

#include "core/device_stream.h"
#include "core/memory.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kMaxDevices = 16;

// One thread's objects on one device, made when first asked for.
struct PerDevice {
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t cublas_lt = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cudaStream_t cublas_stream = nullptr;  // the streams the handles are bound to
  cudaStream_t cudnn_stream = nullptr;
  std::shared_ptr<Storage> workspace;

  PerDevice() = default;
  PerDevice(const PerDevice&) = delete;
  PerDevice& operator=(const PerDevice&) = delete;
  ~PerDevice() {
    if (cudnn != nullptr) cudnnDestroy(cudnn);
    if (cublas_lt != nullptr) cublasLtDestroy(cublas_lt);
    if (cublas != nullptr) cublasDestroy(cublas);
  }
};

PerDevice& Get(Device device) {
  if (!device.is_cuda() || device.index < 0 || device.index >= kMaxDevices) {
    MILLRACE_THROW(ErrorKind::kInvalidArgument,
                   "the CUDA backend was asked to run on " << device.ToString());
  }
  thread_local std::array<std::unique_ptr<PerDevice>, kMaxDevices> per_device;
  std::unique_ptr<PerDevice>& slot = per_device[device.index];
  MILLRACE_CUDA_CHECK(cudaSetDevice(device.index));
  if (!slot) slot = std::make_unique<PerDevice>();
  return *slot;
}

}  // namespace

int BlocksFor(long long n) {
  // Enough blocks to fill an H100/H200 several times over; grid-stride loops cover the rest.
  constexpr long long kMaxBlocks = 4096;
  const long long blocks = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<int>(std::clamp(blocks, 1LL, kMaxBlocks));
}

cudaStream_t Stream(Device device) {
  Get(device);  // checks the device and makes it current
  return static_cast<cudaStream_t>(CurrentCudaStream(device.index));
}

cublasHandle_t Cublas(Device device) {
  cudaStream_t stream = Stream(device);
  PerDevice& d = Get(device);
  if (d.cublas == nullptr) MILLRACE_CUBLAS_CHECK(cublasCreate(&d.cublas));
  if (d.cublas_stream != stream) {
    MILLRACE_CUBLAS_CHECK(cublasSetStream(d.cublas, stream));
    d.cublas_stream = stream;
  }
  return d.cublas;
}

cublasLtHandle_t CublasLt(Device device) {
  PerDevice& d = Get(device);
  if (d.cublas_lt == nullptr) MILLRACE_CUBLAS_CHECK(cublasLtCreate(&d.cublas_lt));
  return d.cublas_lt;  // cuBLASLt takes the stream per call: pass Stream(device)
}

cudnnHandle_t Cudnn(Device device) {
  cudaStream_t stream = Stream(device);
  PerDevice& d = Get(device);
  if (d.cudnn == nullptr) MILLRACE_CUDNN_CHECK(cudnnCreate(&d.cudnn));
  if (d.cudnn_stream != stream) {
    MILLRACE_CUDNN_CHECK(cudnnSetStream(d.cudnn, stream));
    d.cudnn_stream = stream;
  }
  return d.cudnn;
}

void* Workspace(Device device, size_t bytes) {
  PerDevice& d = Get(device);
  if (d.workspace && bytes <= d.workspace->bytes()) return d.workspace->data();
  // Kernels queued on the old block may still use it: wait before its memory can be reused.
  if (d.workspace) Synchronize(device);
  d.workspace = Storage::Allocate(std::max<size_t>(bytes, 1 << 20), device);
  return d.workspace->data();
}

int ComputeCapability(Device device) {
  Get(device);  // checks the index and makes the device current
  // Process-wide: the capability of a device never changes. 0 = not asked yet.
  static std::array<std::atomic<int>, kMaxDevices> capability{};
  static std::mutex asking;
  std::atomic<int>& slot = capability[device.index];
  int known = slot.load(std::memory_order_acquire);
  if (known != 0) return known;
  std::lock_guard<std::mutex> lock(asking);
  known = slot.load(std::memory_order_relaxed);
  if (known != 0) return known;
  cudaDeviceProp properties{};
  MILLRACE_CUDA_CHECK(cudaGetDeviceProperties(&properties, device.index));
  known = properties.major * 10 + properties.minor;
  slot.store(known, std::memory_order_release);
  return known;
}

Precision EffectivePrecision(Device device) {
  const Precision wanted = ComputePrecision();
  if (wanted == Precision::kFp32) return wanted;
  const int capability = ComputeCapability(device);
  if (capability >= 80) return wanted;
  MILLRACE_CHECK_ARG(wanted != Precision::kBf16,
                     "precision bf16 needs a device of compute capability >= 8.0; "
                         << device.ToString() << " has " << capability / 10 << "."
                         << capability % 10 << " (use fp32)");
  return Precision::kFp32;  // kTf32 without TF32 tensor cores
}

void Synchronize(Device device) { MILLRACE_CUDA_CHECK(cudaStreamSynchronize(Stream(device))); }

}  // namespace millrace::ops::cuda
