// libFuzzer target: the WebDataset tar reader (libarchive, grouping by key, label parsing),
// under both bad-input policies, in memory and streamed in pieces (the path TarShardStream
// takes), at the production entry limit (1 GiB: a header's claim must cost only what arrives).
// Any exception but millrace::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "io/tar_shards.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  millrace::io::TarParseOptions options;
  options.num_classes = 10;
  // The production default (TarParseOptions::max_entry_bytes), as shards are read for real.
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
  // Streamed in pieces of 1 to 512 bytes: the same records as in memory.
  size_t at = 0;
  const size_t piece = 1 + size % 512;
  const std::function<std::span<const uint8_t>()> read = [&] {
    const size_t n = std::min(piece, size - at);
    const std::span<const uint8_t> out = bytes.subspan(at, n);
    at += n;
    return out;
  };
  size_t streamed = 0;
  millrace::io::SkipLog stream_log;
  options.skip_log = &stream_log;
  millrace::io::ParseTarShard(read, "fuzz.tar", 3, options,
                              [&](millrace::io::EncodedRecord&&) { ++streamed; });
  if (streamed != records.size()) __builtin_trap();
  return 0;
}
