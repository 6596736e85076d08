// libFuzzer target: the image decode wrapper (format sniffing, libjpeg-turbo, libpng, channel
// conversion, size limits), at the production pixel limit. Any exception but millrace::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/image_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  millrace::io::DecodeOptions options;
  options.channels = static_cast<int>(size % 3) == 2 ? 3 : static_cast<int>(size % 3);
  // The production limit (DecodeOptions::max_pixels): a header's claim is refused by it.
  try {
    millrace::Tensor image = millrace::io::DecodeImage(bytes, "fuzz.img", options);
    if (image.ndim() != 3 || image.dim(1) * image.dim(2) > options.max_pixels) __builtin_trap();
  } catch (const millrace::Error&) {
  }
  return 0;
}
