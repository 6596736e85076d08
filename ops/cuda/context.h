// What every CUDA kernel of millrace_ops needs from its thread: the stream to submit to, the
// cuBLAS, cuBLASLt and cuDNN handles bound to that stream, and scratch memory. Included only by
// the CUDA backend's host glue (`<op>_cuda.cc`, C++20); `.cu` kernels take raw pointers and a
// stream.
//
//   const Device device = x.device();                 // cuda:N
//   cudaStream_t stream = cuda::Stream(device);
//   MILLRACE_CUBLAS_CHECK(cublasSgemm(cuda::Cublas(device), ...));
//   LaunchReluForward(x_ptr, y_ptr, n, stream);
//   MILLRACE_CUDA_LAUNCH_CHECK("ReluForward");
//
// The stream: core's CurrentCudaStream (core/device_stream.h): on a Gpu(d) stage's thread the
// device context's stream (the graph orders the stages on it); on any other thread (tests,
// evaluation outside a graph) a stream of the thread's own on that device. Tensor copies and
// Zero() queue on the same stream, so they are ordered with the kernels. Work is queued, not waited
// for: a result reaches the host through Tensor::To(Device::Cpu()), which synchronises, or through
// an explicit Synchronize.
//
// Thread safety: every function returns the calling thread's own objects; handles are never
// shared between threads (cuBLAS and cuDNN handles are not thread-safe).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>

#include "core/cuda/cuda_check.h"
#include "core/device.h"
#include "core/error.h"
#include "ops/precision.h"

// A cuBLAS / cuBLASLt call; a failure throws Error(kCuda) naming the call and the status.
#define MILLRACE_CUBLAS_CHECK(call)                                                           \
  do {                                                                                        \
    cublasStatus_t millrace_cublas_status_ = (call);                                          \
    if (millrace_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                   \
      MILLRACE_THROW(::millrace::ErrorKind::kCuda,                                            \
                     #call << " failed: " << cublasGetStatusString(millrace_cublas_status_)); \
    }                                                                                         \
  } while (0)

// A cuDNN call; a failure throws Error(kCuda) naming the call and the status.
#define MILLRACE_CUDNN_CHECK(call)                                                         \
  do {                                                                                     \
    cudnnStatus_t millrace_cudnn_status_ = (call);                                         \
    if (millrace_cudnn_status_ != CUDNN_STATUS_SUCCESS) {                                  \
      MILLRACE_THROW(::millrace::ErrorKind::kCuda,                                         \
                     #call << " failed: " << cudnnGetErrorString(millrace_cudnn_status_)); \
    }                                                                                      \
  } while (0)

// After a kernel launch: a bad configuration (or an earlier asynchronous fault) throws,
// naming the kernel.
#define MILLRACE_CUDA_LAUNCH_CHECK(kernel)                                      \
  do {                                                                          \
    cudaError_t millrace_launch_status_ = cudaGetLastError();                   \
    if (millrace_launch_status_ != cudaSuccess) {                               \
      MILLRACE_THROW(::millrace::ErrorKind::kCuda,                              \
                     "kernel " << (kernel) << " failed to launch: "             \
                               << cudaGetErrorString(millrace_launch_status_)); \
    }                                                                           \
  } while (0)

namespace millrace::ops::cuda {

// Makes `device` current on the calling thread and returns the stream its ops submit to.
cudaStream_t Stream(Device device);
// The calling thread's handles on `device`, bound to Stream(device).
cublasHandle_t Cublas(Device device);
cublasLtHandle_t CublasLt(Device device);
cudnnHandle_t Cudnn(Device device);
// Scratch device memory of at least `bytes` for one call at a time on this thread and device
// (cuDNN's and cuBLASLt's workspaces): it grows, never shrinks, and is reused, so no call on
// the hot path allocates. Stream-ordered: the next call's kernels queue behind this one's.
void* Workspace(Device device, size_t bytes);
// Blocks until the work queued so far on Stream(device) is done; a fault in it throws.
void Synchronize(Device device);

// The calling thread's precision (ops/precision.h) as `device` can compute it: kTf32 is kFp32 on
// a device of compute capability < 8.0 (no TF32 tensor cores); kBf16 there throws
// Error(kInvalidArgument). The capability is asked once per device (cudaGetDeviceProperties),
// then cached for the process: no device query on the hot path.
Precision EffectivePrecision(Device device);
// The device's compute capability, major * 10 + minor (86 for 8.6); cached as above (asked first
// by ops::InitComputeThread, so never inside a step a CUDA Graph captures).
int ComputeCapability(Device device);

// Threads per block and blocks for an elementwise kernel over n elements (grid-stride loops).
inline constexpr int kThreadsPerBlock = 256;
int BlocksFor(long long n);

}  // namespace millrace::ops::cuda
