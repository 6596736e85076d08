// Bit-for-bit equality of two CPU tensors (shape, dtype and every byte): the exactness tests'
// comparison of the graph's weights with a plain loop's.
#pragma once

#include <cstring>

#include "core/tensor.h"

namespace millrace::testing {

inline bool SameBits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace millrace::testing
