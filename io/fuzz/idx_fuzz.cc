// libFuzzer target: the IDX parser (gzip detection and inflation, header and size checks), whole
// and fed to the incremental inflater in pieces. Any exception but millrace::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/gzip.h"
#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  // The production limit (IdxOptions::max_bytes): a header's claim must be refused, and a bomb
  // stopped, by the code, not by a small limit here (-rss_limit_mb in scripts/fuzz.sh).
  constexpr uint64_t kMaxBytes = uint64_t{1} << 32;
  try {
    millrace::io::IdxArray array = millrace::io::ParseIdx(bytes, "fuzz.idx", kMaxBytes);
    // A parsed array must be as large as its dims say.
    if (array.bytes.size() != array.header.data_offset + static_cast<size_t>(array.header.dims[0]) *
                                                             array.header.record_bytes())
      __builtin_trap();
  } catch (const millrace::Error&) {
  }
  if (millrace::io::IsGzip(bytes)) {
    try {
      millrace::io::GzipInflater inflater("fuzz.gz", kMaxBytes);
      const size_t piece = 1 + (size % 7);
      for (size_t at = 0; at < size; at += piece)
        inflater.Feed(bytes.subspan(at, std::min(piece, size - at)));
      (void)inflater.Take();
    } catch (const millrace::Error&) {
    }
  }
  return 0;
}
