// Element types of a Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace millrace {

enum class DType : uint8_t { kF32, kBF16, kU8, kI32, kI64, kF64 };

size_t SizeOf(DType dtype);
std::string_view ToString(DType dtype);  // "f32", "bf16", "u8", "i32", "i64", "f64"

// The DType of a C++ element type, for Tensor::data<T>() checks. bf16 has no C++ type here:
// it is read and written as uint16_t bits.
template <typename T>
constexpr DType kDTypeOf = DType::kF32;
template <>
inline constexpr DType kDTypeOf<float> = DType::kF32;
template <>
inline constexpr DType kDTypeOf<uint16_t> = DType::kBF16;
template <>
inline constexpr DType kDTypeOf<uint8_t> = DType::kU8;
template <>
inline constexpr DType kDTypeOf<int32_t> = DType::kI32;
template <>
inline constexpr DType kDTypeOf<int64_t> = DType::kI64;
template <>
inline constexpr DType kDTypeOf<double> = DType::kF64;

}  // namespace millrace
