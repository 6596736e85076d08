// libFuzzer target: the WebDataset tar reader (libarchive, grouping by key, label parsing),
// under both bad-input policies. Any exception but millrace::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/tar_shards.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  millrace::io::TarParseOptions options;
  options.num_classes = 10;
  options.max_entry_bytes = uint64_t{1} << 24;
  try {
    (void)millrace::io::ParseTarShard(bytes, "fuzz.tar", 3, options);
  } catch (const millrace::Error&) {
  }
  millrace::io::SkipLog log;
  options.policy = millrace::io::BadInputPolicy::kSkip;
  options.skip_log = &log;
  auto records = millrace::io::ParseTarShard(bytes, "fuzz.tar", 3, options);  // must not throw
  for (const auto& r : records)
    if (r.label < 0 || r.label >= 10) __builtin_trap();
  return 0;
}
