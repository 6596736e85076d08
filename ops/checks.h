// Argument checks shared by the ops, done once before the kernels for a device are chosen.
// Each throws Error(kInvalidArgument) naming `op`.
#pragma once

#include <string_view>

#include "core/tensor.h"

namespace millrace::ops {

// x is defined and f32 (on any device).
void CheckF32(const Tensor& x, std::string_view op);
// a and b are on the same device ("Linear: gradient on cuda:0, input on cpu").
void CheckSameDevice(const Tensor& a, const Tensor& b, std::string_view op,
                     std::string_view a_name = "gradient", std::string_view b_name = "input");

}  // namespace millrace::ops
