// Incremental gzip decompression (zlib), for inputs that arrive in chunks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "io/async_reader.h"

namespace millrace::io {

// True when `bytes` start with the gzip magic (1f 8b).
bool IsGzip(std::span<const uint8_t> bytes);

// Inflates one gzip stream fed in pieces. Not thread-safe.
//
//   GzipInflater inflater("train.gz");
//   for (auto& chunk : chunks) inflater.Feed(chunk);
//   if (!inflater.finished()) ...;       // truncated stream
//   Bytes data = inflater.Take();
class GzipInflater {
 public:
  // `name` labels errors; output beyond `max_output` bytes is an error (a guard against
  // decompression bombs).
  explicit GzipInflater(std::string name, uint64_t max_output = uint64_t{1} << 32);
  ~GzipInflater();
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;

  // Reserves the output for `bytes` of decompressed data at once (a hint, e.g. the ISIZE field
  // of the gzip trailer), so that Feed never copies it while the hint holds; pages are touched
  // only as output reaches them. Past the hint the output grows as without one. Call before the
  // first Feed; a hint of max_output or more is ignored.
  void Reserve(uint64_t bytes);

  // `probe` sees the output so far after each step of inflate (at most a few MiB apart) until
  // it returns a size other than 0: the whole output's size as its first bytes declare it (an
  // IDX header's dims). The output limit then drops to that size, so a header that understates
  // its data stops the inflation early. The probe may throw Error(kData) (a header that claims
  // more than the limit): Feed passes it on, and refused() turns true. Call before Feed.
  void ExpectSize(std::function<uint64_t(std::span<const uint8_t>)> probe);

  // Decompresses `chunk`. Throws Error(kData) naming the file for corrupt data (the output so
  // far stays available through output()) and for output past the limit (refused() then turns
  // true). The output grows by what inflate produced, never past the limit (plus one byte).
  // Bytes after the end of the stream are counted in trailing_bytes(), not inflated.
  void Feed(std::span<const uint8_t> chunk);

  // Whether the output went past the limit (or the probe refused the declared size): the
  // stream is refused, not merely truncated or corrupt.
  bool refused() const noexcept { return refused_; }
  // Input bytes after the end of the gzip stream (a second member or trailing garbage).
  uint64_t trailing_bytes() const noexcept { return trailing_; }

  // Whether the end of the gzip stream (with a valid CRC and length) has been seen.
  bool finished() const noexcept { return finished_; }
  // Decompressed bytes so far.
  std::span<const uint8_t> output() const noexcept { return {output_.data(), used_}; }
  uint64_t total_out() const noexcept { return used_; }
  // Moves the decompressed bytes out (the inflater is then empty).
  Bytes Take();

 private:
  struct Stream;
  std::string name_;
  uint64_t max_output_;
  std::unique_ptr<Stream> stream_;
  Bytes output_;  // a growing buffer; the first used_ bytes are valid
  size_t used_ = 0;
  bool reserved_ = false;
  bool finished_ = false;
  bool refused_ = false;
  std::string limit_why_;  // what lowered max_output_, for the error
  uint64_t trailing_ = 0;
  std::function<uint64_t(std::span<const uint8_t>)> probe_;  // until it returns a size
};

}  // namespace millrace::io
