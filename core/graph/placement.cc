#include "core/graph/placement.h"

#include "core/error.h"

namespace millrace {

Device Placement::device_of_thread() const {
  return kind == Kind::kGpu ? Device::Cuda(device) : Device::Cpu();
}

std::string Placement::ToString() const {
  switch (kind) {
    case Kind::kIo: return "io(" + std::to_string(concurrency) + ")";
    case Kind::kCpu: return "cpu(" + std::to_string(concurrency) + ")";
    case Kind::kCompute: return "compute";
    case Kind::kGpu: return "gpu:" + std::to_string(device);
  }
  return "?";
}

Placement Io(int concurrency) {
  MILLRACE_CHECK_ARG(concurrency >= 1, "Io(" << concurrency << "): concurrency must be >= 1");
  return Placement{Placement::Kind::kIo, concurrency, 0};
}

Placement Cpu(int concurrency) {
  MILLRACE_CHECK_ARG(concurrency >= 1, "Cpu(" << concurrency << "): concurrency must be >= 1");
  return Placement{Placement::Kind::kCpu, concurrency, 0};
}

Placement Compute() { return Placement{Placement::Kind::kCompute, 1, 0}; }

Placement Gpu(int device) {
  MILLRACE_CHECK_ARG(device >= 0, "Gpu(" << device << "): the device index must be >= 0");
  return Placement{Placement::Kind::kGpu, 1, device};
}

}  // namespace millrace
