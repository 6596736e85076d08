// Counter-based random numbers for reproducible data pipelines: every draw depends only on
// (seed, epoch, index), never on which thread ran first. Not for cryptography.
#pragma once

#include <cstdint>

namespace millrace::io {

// SplitMix64's finaliser: a bijective 64-bit mix with good avalanche.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A small deterministic generator (SplitMix64 stream) keyed by up to three values (seed,
// epoch, record): the data side's random numbers. (ops::Rng is the weights' initialiser.)
// A value type: copy it to fork a stream; not shared between threads.
class KeyedRng {
 public:
  explicit constexpr KeyedRng(uint64_t seed, uint64_t stream = 0, uint64_t item = 0)
      : state_(Mix64(Mix64(Mix64(seed) ^ stream) ^ item)) {}

  constexpr uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0), by Lemire's multiply-shift with rejection: no modulo bias.
  uint64_t Below(uint64_t n) {
    uint64_t x = Next();
    __uint128_t m = static_cast<__uint128_t>(x) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = -n % n;
      while (low < threshold) {
        x = Next();
        m = static_cast<__uint128_t>(x) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // True with probability p.
  bool Bernoulli(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

}  // namespace millrace::io
