#include "ops/precision.h"

namespace millrace::ops {
namespace {
thread_local Precision thread_precision = kDefaultPrecision;
}  // namespace

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "unknown";
}

Precision ComputePrecision() { return thread_precision; }

void SetComputePrecision(Precision precision) { thread_precision = precision; }

}  // namespace millrace::ops
