// Prefetcher: keeps `depth` reads in flight ahead of its consumer and hands the results back in
// the order asked for, whatever order the reads complete in.
//
//   Prefetcher chunks(reader, /*count=*/n, [&](int64_t i) { return ranges[i]; }, /*depth=*/8);
//   while (std::optional<Bytes> bytes = chunks.Next()) Consume(*bytes);
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <optional>

#include "io/async_reader.h"

namespace millrace::io {

class Prefetcher {
 public:
  // Reads range_of(0), ..., range_of(count - 1) through `reader` (which must outlive this),
  // at most `depth` (>= 1) at a time. range_of is called on the consumer's thread.
  Prefetcher(AsyncReader& reader, int64_t count, std::function<FileRange(int64_t)> range_of,
             int depth);

  // The bytes of the next range, or nullopt after the last. Blocks until that read completes;
  // rethrows its Error(kIo). Not thread-safe: one consumer thread.
  std::optional<Bytes> Next();

  // Position (in [0, count]) of the range Next() returns next.
  int64_t position() const noexcept { return next_; }
  int64_t count() const noexcept { return count_; }

 private:
  void Refill();

  AsyncReader& reader_;
  int64_t count_;
  std::function<FileRange(int64_t)> range_of_;
  int depth_;
  int64_t next_ = 0;    // next position handed to the consumer
  int64_t issued_ = 0;  // next position to issue
  std::deque<std::future<Bytes>> in_flight_;
};

}  // namespace millrace::io
