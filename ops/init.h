// Seeded initialisation of parameters: Kaiming (He) and Xavier (Glorot), uniform and normal.
//
//   Rng rng(42);
//   KaimingUniform(linear.weight().value, /*fan_in=*/784, rng);
//
// The bits depend only on the seed (std::mt19937_64 is fully specified by the standard, and
// the conversions to floats below are written out, not left to <random>'s distributions).
#pragma once

#include <cstdint>
#include <random>

#include "core/tensor.h"

namespace millrace::ops {

// A seeded random source. Copyable (a copy continues the same stream).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t Next() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal (Box-Muller).
  double Normal();
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// A seed derived from (seed, index): separate, reproducible streams per layer.
uint64_t DeriveSeed(uint64_t seed, uint64_t index);

// gain for ReLU is sqrt(2). fan_in / fan_out of a weight: Linear [out, in] -> in / out;
// Conv2d [out, in/groups, kh, kw] -> in/groups*kh*kw / out*kh*kw.
// U(-b, b) with b = gain * sqrt(3 / fan_in).
void KaimingUniform(Tensor& w, int64_t fan_in, Rng& rng, double gain = 1.4142135623730951);
// N(0, std^2) with std = gain / sqrt(fan_in).
void KaimingNormal(Tensor& w, int64_t fan_in, Rng& rng, double gain = 1.4142135623730951);
// U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
void XavierUniform(Tensor& w, int64_t fan_in, int64_t fan_out, Rng& rng, double gain = 1.0);
// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
void XavierNormal(Tensor& w, int64_t fan_in, int64_t fan_out, Rng& rng, double gain = 1.0);
// U(lo, hi), element by element.
void UniformFill(Tensor& w, double lo, double hi, Rng& rng);

}  // namespace millrace::ops
