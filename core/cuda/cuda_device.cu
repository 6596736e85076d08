// Device discovery for a build with CUDA.
#include <string>

#include "core/cuda/cuda_check.h"
#include "core/device.h"

namespace millrace {

namespace {
struct Probe {
  int count = 0;
  std::string reason;
};
const Probe& ProbeOnce() {
  static const Probe probe = [] {
    Probe p;
    cudaError_t status = cudaGetDeviceCount(&p.count);
    if (status != cudaSuccess) {
      p.count = 0;
      p.reason = std::string("no CUDA device answers: ") + cudaGetErrorString(status);
      cudaGetLastError();  // clear the sticky error
    } else if (p.count == 0) {
      p.reason = "no CUDA device answers: the driver reports 0 devices";
    }
    return p;
  }();
  return probe;
}
}  // namespace

int CudaDeviceCount() { return ProbeOnce().count; }
std::string CudaUnavailableReason() { return ProbeOnce().reason; }

}  // namespace millrace
