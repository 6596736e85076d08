// Checks for CUDA runtime calls, and owning handles for streams and events. Included only by
// .cu files and CUDA-only sources; CPU headers never include this.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <type_traits>

#include "core/error.h"

#define MILLRACE_CUDA_CHECK(call)                                                       \
  do {                                                                                  \
    cudaError_t millrace_cuda_status_ = (call);                                         \
    if (millrace_cuda_status_ != cudaSuccess) {                                         \
      MILLRACE_THROW(::millrace::ErrorKind::kCuda,                                      \
                     #call << " failed: " << cudaGetErrorString(millrace_cuda_status_)); \
    }                                                                                   \
  } while (0)

namespace millrace::cuda {

struct StreamDeleter {
  void operator()(CUstream_st* s) const noexcept { cudaStreamDestroy(s); }
};
struct EventDeleter {
  void operator()(CUevent_st* e) const noexcept { cudaEventDestroy(e); }
};
using Stream = std::unique_ptr<CUstream_st, StreamDeleter>;
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

inline Stream MakeStream() {
  cudaStream_t s = nullptr;
  MILLRACE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return Stream(s);
}

inline Event MakeEvent() {
  cudaEvent_t e = nullptr;
  MILLRACE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return Event(e);
}

}  // namespace millrace::cuda
