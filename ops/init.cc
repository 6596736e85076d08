#include "ops/init.h"

#include <cmath>

namespace millrace::ops {

double Rng::Normal() {
  // Box-Muller on (0, 1]: the log never sees 0.
  const double u1 = 1.0 - Uniform();
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t DeriveSeed(uint64_t seed, uint64_t index) {
  // SplitMix64 finaliser of seed + golden-ratio steps.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void UniformFill(Tensor& w, double lo, double hi, Rng& rng) {
  for (float& v : w.span<float>()) v = static_cast<float>(rng.Uniform(lo, hi));
}

static void NormalFill(Tensor& w, double stddev, Rng& rng) {
  for (float& v : w.span<float>()) v = static_cast<float>(stddev * rng.Normal());
}

void KaimingUniform(Tensor& w, int64_t fan_in, Rng& rng, double gain) {
  MILLRACE_CHECK_ARG(fan_in > 0, "KaimingUniform: fan_in must be > 0, got " << fan_in);
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in));
  UniformFill(w, -bound, bound, rng);
}

void KaimingNormal(Tensor& w, int64_t fan_in, Rng& rng, double gain) {
  MILLRACE_CHECK_ARG(fan_in > 0, "KaimingNormal: fan_in must be > 0, got " << fan_in);
  NormalFill(w, gain / std::sqrt(static_cast<double>(fan_in)), rng);
}

void XavierUniform(Tensor& w, int64_t fan_in, int64_t fan_out, Rng& rng, double gain) {
  MILLRACE_CHECK_ARG(fan_in + fan_out > 0, "XavierUniform: fan_in + fan_out must be > 0");
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  UniformFill(w, -bound, bound, rng);
}

void XavierNormal(Tensor& w, int64_t fan_in, int64_t fan_out, Rng& rng, double gain) {
  MILLRACE_CHECK_ARG(fan_in + fan_out > 0, "XavierNormal: fan_in + fan_out must be > 0");
  NormalFill(w, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), rng);
}

}  // namespace millrace::ops
