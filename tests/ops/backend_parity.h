// Helpers of the backend-parity tests (ggml's tests/test-backend-ops.cpp is the model): every
// op runs on every backend of this build and is checked against the CPU backend and against a
// naive reference written in the test (plain loops, in double).
//
// One test row per backend: INSTANTIATE_TEST_SUITE_P(..., BackendKinds(), BackendName) gives
// "cpu" today and a "cuda" row once the CUDA backend registers; a backend that is compiled but
// has no device skips its row with the reason (SkipWithoutDevice).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "ops/init.h"
#include "ops/kernel_table.h"
#include "ops/layer.h"
#include "ops/precision.h"

namespace millrace {
// Test output names a backend row "cpu" / "cuda" (gtest finds this by ADL).
inline void PrintTo(Device::Kind kind, std::ostream* os) {
  *os << (kind == Device::Kind::kCpu ? "cpu" : "cuda");
}
}  // namespace millrace

namespace millrace::ops::testing {

inline std::vector<Device::Kind> BackendKinds() { return CompiledBackends(); }

inline std::string BackendName(const ::testing::TestParamInfo<Device::Kind>& info) {
  return info.param == Device::Kind::kCpu ? "cpu" : "cuda";
}

// The device of a backend's row: the CPU, or CUDA device 0.
inline Device BackendDevice(Device::Kind kind) {
  return kind == Device::Kind::kCpu ? Device::Cpu() : Device::Cuda(0);
}

// Empty when the backend's device answers, else why not (for GTEST_SKIP).
inline std::string DeviceMissingReason(Device::Kind kind) {
  if (kind == Device::Kind::kCpu || CudaDeviceCount() > 0) return {};
  return "backend cuda is compiled but no device answers: " + CudaUnavailableReason();
}

#define MILLRACE_SKIP_WITHOUT_DEVICE(kind)                                                    \
  do {                                                                                        \
    const std::string millrace_reason_ = ::millrace::ops::testing::DeviceMissingReason(kind); \
    if (!millrace_reason_.empty()) GTEST_SKIP() << millrace_reason_;                          \
  } while (0)

inline Tensor Random(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::Empty(shape);
  Rng rng(seed);
  UniformFill(t, lo, hi, rng);
  return t;
}

inline Tensor Host(const Tensor& t) { return t.To(Device::Cpu()); }

// The elements of a CPU f32 tensor in double.
inline std::vector<double> Values(const Tensor& t) {
  Tensor h = Host(t);
  std::vector<double> v(static_cast<size_t>(h.numel()));
  for (int64_t i = 0; i < h.numel(); ++i) v[i] = h.data<float>()[i];
  return v;
}

// |got - want| <= tol * (1 + |want|) for every element (any device; compared on the host).
inline void ExpectNear(const Tensor& got, const std::vector<double>& want, double tol,
                       const std::string& what) {
  Tensor h = Host(got);
  ASSERT_EQ(h.numel(), static_cast<int64_t>(want.size())) << what;
  int reported = 0;
  for (int64_t i = 0; i < h.numel(); ++i) {
    const double g = h.data<float>()[i];
    if (std::fabs(g - want[i]) > tol * (1 + std::fabs(want[i])) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "] = " << g << ", expected " << want[i] << " (tolerance "
                    << tol << ")";
    }
  }
}
inline void ExpectNear(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ExpectNear(got, Values(want), tol, what);
}

// Moves a layer's parameters (value and grad) and buffers to `device`.
inline void MoveLayer(Layer& layer, Device device) {
  for (Parameter* p : layer.Parameters()) {
    p->value = p->value.To(device);
    if (p->grad.defined()) p->grad = p->grad.To(device);
  }
  for (auto& [name, buffer] : layer.Buffers()) *buffer = buffer->To(device);
}

}  // namespace millrace::ops::testing
