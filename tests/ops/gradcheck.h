// Test helpers shared by the layer tests: seeded random tensors and a central
// finite-difference check of a layer's Backward.
//
// The check uses the scalar L = sum_i y_i * r_i with a fixed random r, so dL/dy = r. For
// each checked element e of the input (and of every Parameter), dL/de is estimated as
// (L(e + eps) - L(e - eps)) / (2 eps), with L summed in double, and compared with Backward.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "ops/init.h"
#include "ops/layer.h"

namespace millrace::ops::testing {

// The layer tests run oneDNN with a team of one thread: on the shared 2-core machine a team
// of two waits at every barrier for a core that a compiler holds, which makes the thousands of
// tiny forwards of a gradient check 100x slower. Tests that need two threads set them.
inline const bool kOneComputeThread = [] {
  InitComputeThread(Device::Cpu(), 1);
  return true;
}();

inline Tensor RandomTensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::Empty(shape);
  Rng rng(seed);
  UniformFill(t, lo, hi, rng);
  return t;
}

// sum(y * r) in double.
inline double Dot(const Tensor& y, const Tensor& r) {
  double sum = 0;
  const float* a = y.data<float>();
  const float* b = r.data<float>();
  for (int64_t i = 0; i < y.numel(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

struct GradCheckOptions {
  double eps = 1e-2;
  double atol = 2e-3;   // absolute tolerance
  double rtol = 1e-2;   // relative to the larger of |analytic| and |numeric|
  int max_checks = 48;  // elements checked per tensor, spread evenly
};

// Checks Backward's dx and every Parameter's grad against central differences.
inline void ExpectGradientsMatch(Layer& layer, const Tensor& input, uint64_t seed,
                                 const GradCheckOptions& options = {}) {
  Tensor x = input.Clone();
  Tensor y0 = layer.Forward(x, Mode::kTrain);
  const Tensor r = RandomTensor(y0.shape(), seed);
  for (Parameter* p : layer.Parameters()) p->grad.Zero();
  // Backward of a fresh Forward (the layer keeps views of x).
  y0 = layer.Forward(x, Mode::kTrain);
  const Tensor dx = layer.Backward(r).Clone();

  auto loss = [&] {
    Tensor y = layer.Forward(x, Mode::kTrain);
    return Dot(y, r);
  };
  auto check = [&](Tensor& target, const Tensor& analytic, const std::string& what) {
    const int64_t n = target.numel();
    const int64_t step = std::max<int64_t>(1, n / options.max_checks);
    float* v = target.data<float>();
    const float* g = analytic.data<float>();
    for (int64_t i = 0; i < n; i += step) {
      const float saved = v[i];
      v[i] = static_cast<float>(saved + options.eps);
      const double plus = loss();
      v[i] = static_cast<float>(saved - options.eps);
      const double minus = loss();
      v[i] = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double tolerance =
          options.atol +
          options.rtol * std::max(std::abs(numeric), std::abs(static_cast<double>(g[i])));
      EXPECT_NEAR(g[i], numeric, tolerance) << what << " element " << i << " of " << n;
    }
  };
  check(x, dx, "input");
  for (Parameter* p : layer.Parameters()) {
    const Tensor grad = p->grad.Clone();
    check(p->value, grad, p->name);
  }
}

// Bitwise equality of two f32 tensors.
inline bool SameBits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::equal(a.span<float>().begin(), a.span<float>().end(), b.span<float>().begin(),
                    [](float u, float v) { return std::memcmp(&u, &v, sizeof(float)) == 0; });
}

// Element-wise |a - b| <= atol + rtol |b| of two plain f32 tensors of the same shape; the largest
// violation in the message.
inline ::testing::AssertionResult AllClose(const Tensor& a, const Tensor& b, double atol = 1e-5,
                                           double rtol = 1e-5) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shapes " << ToString(a.shape()) << " and " << ToString(b.shape());
  }
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (!(std::abs(double(pa[i]) - pb[i]) <= atol + rtol * std::abs(double(pb[i])))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << pa[i] << " vs " << pb[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace millrace::ops::testing
