#include "ops/checks.h"

#include "core/error.h"

namespace millrace::ops {

void CheckF32(const Tensor& x, std::string_view op) {
  MILLRACE_CHECK_ARG(x.defined(), op << ": input is an undefined tensor");
  MILLRACE_CHECK_ARG(x.dtype() == DType::kF32,
                     op << ": input has dtype " << ToString(x.dtype()) << ", expected f32");
}

void CheckSameDevice(const Tensor& a, const Tensor& b, std::string_view op, std::string_view a_name,
                     std::string_view b_name) {
  MILLRACE_CHECK_ARG(a.device() == b.device(), op << ": " << a_name << " on "
                                                  << a.device().ToString() << ", " << b_name
                                                  << " on " << b.device().ToString());
}

}  // namespace millrace::ops
