// Tar shards in the WebDataset convention: each sample is a run of consecutive entries that
// share a key (the path up to the first '.' of the file name): KEY.jpg / KEY.jpeg / KEY.png for
// the image and KEY.cls for the label (a decimal integer). Other entries are ignored.
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
#include <span>
#include <string>
#include <vector>

#include "io/async_reader.h"
#include "io/prefetcher.h"
#include "io/random.h"
#include "io/record.h"

namespace millrace::io {

struct TarParseOptions {
  // Labels must lie in [0, num_classes); 0 leaves them unchecked (but >= 0).
  int64_t num_classes = 0;
  // kSkip: a sample without a label or an image, a bad label, or a corrupt archive (the rest of
  // the shard) is counted in skip_log instead of throwing.
  BadInputPolicy policy = BadInputPolicy::kFail;
  SkipLog* skip_log = nullptr;
  // Entries larger than this are refused (a guard against corrupt size fields).
  uint64_t max_entry_bytes = uint64_t{1} << 30;
};

// Parses one shard held in memory. Record i of the shard gets index (shard_id << 32) | i and
// source `name`, entry "KEY.jpg". Throws Error(kData) naming the shard and the entry (kFail).
// Thread-safe (no shared state).
std::vector<EncodedRecord> ParseTarShard(std::span<const uint8_t> bytes, const std::string& name,
                                         int64_t shard_id, const TarParseOptions& options = {});

// The shard files of a directory (*.tar), sorted.
std::vector<std::string> ListTarShards(const std::string& dir);

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
class TarShardStream {
 public:
  TarShardStream(std::vector<std::string> shards, AsyncReader& reader, TarStreamOptions options);

  // The next record, or nullopt at the end of this rank's share of the epoch. Throws Error
  // naming the shard (and entry) for bad input under kFail, Error(kIo) for unreadable shards.
  std::optional<EncodedRecord> Next();

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

// Writes a tar (pax) archive of `entries` (name, bytes) to `path` through libarchive, via a
// temporary file renamed at the end. Throws Error(kIo) naming the file.
void WriteTar(const std::string& path, const std::vector<std::pair<std::string, Bytes>>& entries);

}  // namespace millrace::io
