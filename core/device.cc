#include "core/device.h"

#include <charconv>

#include "core/error.h"

namespace millrace {

std::string Device::ToString() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::Parse(std::string_view s) {
  if (s == "cpu") return Cpu();
  if (s == "cuda" || s == "gpu") return Cuda(0);
  for (std::string_view prefix : {"cuda:", "gpu:"}) {
    if (s.substr(0, prefix.size()) == prefix) {
      std::string_view digits = s.substr(prefix.size());
      int index = -1;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (ec == std::errc() && end == digits.data() + digits.size() && index >= 0) {
        return Cuda(index);
      }
    }
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "unknown device '" << s << "' (expected cpu, cuda or cuda:N)");
}

}  // namespace millrace
