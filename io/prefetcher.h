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
#include <span>
#include <string>
#include <vector>

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

// A file read front to back in chunks, `depth` reads in flight through an AsyncReader
// (AsyncReader::ReadInto), into `depth` buffers that are reused: no allocation per chunk.
//
//   ChunkReader chunks(reader, "shard.tar", size, /*chunk_bytes=*/1 << 20, /*depth=*/3);
//   for (auto piece = chunks.Next(); !piece.empty(); piece = chunks.Next()) Consume(piece);
class ChunkReader {
 public:
  // Reads bytes [0, size) of `path`. `buffers` (optional, not owned) lends the buffers, so that
  // a thread reading many files keeps one set; they are resized as needed.
  ChunkReader(AsyncReader& reader, std::string path, uint64_t size, uint64_t chunk_bytes, int depth,
              std::vector<Bytes>* buffers = nullptr);
  // Waits for the reads in flight (they write into the buffers).
  ~ChunkReader();
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // The next chunk, valid until the next call (its buffer is then read into again); empty after
  // the last. Throws the read's Error(kIo). One thread.
  std::span<const uint8_t> Next();

 private:
  AsyncReader& reader_;
  std::string path_;
  uint64_t size_;
  uint64_t chunk_;
  int64_t depth_;
  int64_t count_;
  std::vector<Bytes> own_buffers_;
  std::vector<Bytes>& buffers_;
  std::deque<std::future<void>> in_flight_;
  int64_t issued_ = 0;
  int64_t next_ = 0;  // the chunk Next returns next
};

}  // namespace millrace::io
