// Where a tensor's memory lives and where an op runs: the host CPU, or CUDA device N.
#pragma once

#include <string>
#include <string_view>

namespace millrace {

struct Device {
  enum class Kind : unsigned char { kCpu, kCuda };

  Kind kind = Kind::kCpu;
  int index = 0;

  static constexpr Device Cpu() { return {Kind::kCpu, 0}; }
  static constexpr Device Cuda(int index = 0) { return {Kind::kCuda, index}; }

  bool is_cpu() const { return kind == Kind::kCpu; }
  bool is_cuda() const { return kind == Kind::kCuda; }
  friend bool operator==(const Device& a, const Device& b) {
    return a.kind == b.kind && a.index == b.index;
  }
  friend bool operator!=(const Device& a, const Device& b) { return !(a == b); }

  std::string ToString() const;            // "cpu", "cuda:0"
  static Device Parse(std::string_view s);  // "cpu", "cuda", "cuda:1"; throws on anything else
};

// Number of CUDA devices that answer (0 in a build without CUDA or on a machine without a GPU).
int CudaDeviceCount();
// Why no CUDA device answers ("this build has no CUDA", "no CUDA device: <driver message>"),
// empty when one does. Tests print it when they skip.
std::string CudaUnavailableReason();

}  // namespace millrace
