// libFuzzer target: the safetensors reader (ops/checkpoint/safetensors.h): header length, JSON,
// dtypes, shapes (checked arithmetic), offsets, the file's size. The input becomes a file in
// memory (memfd) read through /proc/self/fd. Any exception but millrace::Error is a bug.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "ops/checkpoint/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz.safetensors", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    __builtin_trap();
  try {
    millrace::ops::SafetensorsContents c =
        millrace::ops::ReadSafetensors("/proc/self/fd/" + std::to_string(fd));
    for (const auto& [name, t] : c.tensors)
      if (t.nbytes() > size) __builtin_trap();  // never more data than the file holds
  } catch (const millrace::Error&) {
  }
  return 0;
}
