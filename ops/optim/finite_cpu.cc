// AllFinite on the CPU.
#include <bit>
#include <cstdint>

#include "ops/optim/finite.h"

namespace millrace::ops::cpu {

namespace {

// Whether every element is finite. An f32 is an Inf or a NaN when its exponent field (bits
// 23..30) is all ones; adding 1 to that field carries into bit 31 then and only then, so an OR
// over (exponent + 1) has bit 31 set when any element is not finite. Integer AND, ADD and OR
// vectorize with plain SSE2 (a max would need SSE4.1, a float sum -ffast-math, and a sum could
// overflow): ~0.1 ns a gradient element on this machine.
bool AllFiniteValues(std::span<const float> values) {
  constexpr uint32_t kExponent = 0x7f800000u, kExponentOne = 0x00800000u;
  uint32_t any = 0;
  for (const float v : values) any |= (std::bit_cast<uint32_t>(v) & kExponent) + kExponentOne;
  return (any & 0x80000000u) == 0;
}

}  // namespace

bool AllFinite(std::span<const Tensor* const> tensors) {
  for (const Tensor* t : tensors) {
    const Tensor plain = t->Plain();
    if (!AllFiniteValues(plain.span<float>())) return false;
  }
  return true;
}

}  // namespace millrace::ops::cpu
