// Incremental gzip decompression (zlib), for inputs that arrive in chunks.
#pragma once

#include <cstdint>
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

  // Decompresses `chunk`. Throws Error(kData) naming the file for corrupt data (the output so
  // far stays available through output()). Bytes after the end of the stream are ignored.
  void Feed(std::span<const uint8_t> chunk);

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
};

}  // namespace millrace::io
