// The backend seam of every op: a KernelTable holds, per device kind, the kernels that run an
// op on that kind of device. The op checks its arguments once (shapes, dtypes, devices), then
// calls the kernels registered for its input's device:
//
//   const MseKernel& kernel = MseKernels().Get(prediction.device());  // throws when missing
//   double loss = kernel(prediction, target, grad);
//
// `Kernels` is a function pointer or a struct of them (a layer's table holds member function
// pointers to its ForwardCpu / BackwardCpu). Backends are registered explicitly, not by static
// initialisers (a static library drops those): RegisterBackends() runs each backend's
// registration function once (ops/cpu/register.cc for the CPU, ops/cuda/register.cc for
// CUDA in a build with MILLRACE_HAVE_CUDA), and Get() calls it. A device kind without a kernel is one error for every op:
// Error(kInvalidArgument) "no kernel for Linear on cuda:0".
//
// Thread safety: registration happens once under std::call_once; after it the tables are only
// read, from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

#include "core/device.h"

namespace millrace::ops {

inline constexpr size_t kDeviceKinds = 2;  // Device::Kind::kCpu, Device::Kind::kCuda

// Throws Error(kInvalidArgument) "no kernel for <op> on <device>".
[[noreturn]] void ThrowNoKernel(std::string_view op, Device device);

// Registers every backend of this build, once (thread-safe; later calls return at once).
void RegisterBackends();

// The device kinds that have a backend in this build, CPU first: {kCpu}, or {kCpu, kCuda} in a
// build with the CUDA backend (whether or not a GPU answers). The parity test runs one row per
// entry and skips the CUDA row, with the reason, where no GPU answers.
std::vector<Device::Kind> CompiledBackends();

template <typename Kernels>
class KernelTable {
 public:
  // `op` names the op in errors ("Linear"); it must outlive the table (a literal).
  explicit KernelTable(std::string_view op) : op_(op) {}

  std::string_view op() const { return op_; }

  // Called by a backend's registration function.
  void Set(Device::Kind kind, Kernels kernels) {
    kernels_[Index(kind)] = kernels;
    present_[Index(kind)] = true;
  }

  bool Has(Device::Kind kind) const {
    RegisterBackends();
    return present_[Index(kind)];
  }

  // The kernels for `device`; throws "no kernel for <op> on <device>" when none is registered.
  // `as` names the op in that error instead of the table's name (MaxPool2d for Pool2d's).
  const Kernels& Get(Device device, std::string_view as = {}) const {
    RegisterBackends();
    if (!present_[Index(device.kind)]) ThrowNoKernel(as.empty() ? op_ : as, device);
    return kernels_[Index(device.kind)];
  }

 private:
  static size_t Index(Device::Kind kind) { return static_cast<size_t>(kind); }

  std::string_view op_;
  std::array<Kernels, kDeviceKinds> kernels_{};
  std::array<bool, kDeviceKinds> present_{};
};

}  // namespace millrace::ops
