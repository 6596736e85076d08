// CUDA Graphs for core/device_graph.h: a stream capture in the calling thread's mode (work
// other threads queue meanwhile is neither captured nor refused), instantiated once, replayed
// by Launch; the blocks the capture took belong to the graph's pool (core/memory.h).
#include <string>

#include "core/cuda/cuda_check.h"
#include "core/device_graph.h"
#include "core/memory.h"

namespace millrace {

namespace {

// The open capture of the calling thread: its pool, 0 when none is open.
thread_local int tls_capture_pool = 0;

class CudaGraph final : public DeviceGraph {
 public:
  CudaGraph(cudaGraph_t graph, cudaGraphExec_t exec, int pool)
      : graph_(graph), exec_(exec), pool_(pool) {}
  ~CudaGraph() override {
    cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(graph_);
    detail::ReleaseCudaPool(pool_);
  }
  void Launch(void* stream) const override {
    MILLRACE_CUDA_CHECK(cudaGraphLaunch(exec_, static_cast<cudaStream_t>(stream)));
  }

 private:
  cudaGraph_t graph_;
  cudaGraphExec_t exec_;
  int pool_;
};

}  // namespace

void BeginDeviceCapture(void* stream) {
  MILLRACE_CHECK(tls_capture_pool == 0, ErrorKind::kInternal,
                 "BeginDeviceCapture: this thread already captures");
  MILLRACE_CUDA_CHECK(
      cudaStreamBeginCapture(static_cast<cudaStream_t>(stream), cudaStreamCaptureModeThreadLocal));
  tls_capture_pool = detail::NewCudaPool();
  detail::SetThreadCudaPool(tls_capture_pool);
}

std::unique_ptr<DeviceGraph> EndDeviceCapture(void* stream) {
  const int pool = tls_capture_pool;
  tls_capture_pool = 0;
  detail::SetThreadCudaPool(0);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(static_cast<cudaStream_t>(stream), &graph);
  if (ended != cudaSuccess) {
    cudaGetLastError();
    detail::ReleaseCudaPool(pool);
    MILLRACE_THROW(ErrorKind::kCuda,
                   "cudaStreamEndCapture failed: " << cudaGetErrorString(ended)
                                                   << " (a call during the capture synchronised, "
                                                      "allocated pinned memory or read a result)");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  if (made != cudaSuccess) {
    cudaGraphDestroy(graph);
    detail::ReleaseCudaPool(pool);
    MILLRACE_THROW(ErrorKind::kCuda, "cudaGraphInstantiate failed: " << cudaGetErrorString(made));
  }
  return std::make_unique<CudaGraph>(graph, exec, pool);
}

}  // namespace millrace
