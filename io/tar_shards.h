// TarShardStream: one rank's samples of an epoch of WebDataset tar shards (io/tar_format.h).
//
//   TarShardStream stream(shards, reader, {.seed = 1, .epoch = e, .rank = 0, .world = 2});
//   while (auto record = stream.Next()) ...;    // EncodedRecord; decode with DecodeRecord
//
// A stream reads its rank's shards whole through an AsyncReader (several in flight), parses each
// with libarchive, and shuffles samples through a seeded buffer.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "io/async_reader.h"
#include "io/prefetcher.h"
#include "io/random.h"
#include "io/record.h"
#include "io/tar_format.h"

namespace millrace::io {

struct TarStreamOptions {
  uint64_t seed = 0;
  int64_t epoch = 0;
  // Shuffle the shard order (per epoch) and the samples through a buffer of this many records
  // (0 or 1: shard order only). shuffle = false keeps both orders.
  bool shuffle = true;
  int64_t shuffle_buffer = 1000;
  // Shards are dealt to ranks round-robin after the per-epoch shard shuffle, so the ranks
  // together read every shard exactly once per epoch.
  int rank = 0;
  int world = 1;
  int shards_in_flight = 2;  // shard reads ahead of the consumer
  TarParseOptions parse;
};

// One rank's samples for one epoch. The shard paths and the reader must outlive it; one
// consumer thread.
class TarShardStream final : public RecordStream {
 public:
  TarShardStream(std::vector<std::string> shards, AsyncReader& reader, TarStreamOptions options);

  // The next record, or nullopt at the end of this rank's share of the epoch. Throws Error
  // naming the shard (and entry) for bad input under kFail, Error(kIo) for unreadable shards.
  std::optional<EncodedRecord> Next() override;

  // Indices (into the constructor's shard list) of the shards this rank reads, in order.
  const std::vector<int64_t>& shard_order() const noexcept { return order_; }

 private:
  bool FillFromNextShard();  // false when no shard is left

  std::vector<std::string> shards_;
  TarStreamOptions options_;
  std::vector<int64_t> order_;
  Prefetcher prefetcher_;
  std::deque<EncodedRecord> pending_;  // parsed, not yet in the buffer
  std::vector<EncodedRecord> buffer_;  // the shuffle buffer
  Rng rng_;
};

}  // namespace millrace::io
