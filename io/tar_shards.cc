#include "io/tar_shards.h"

#include <algorithm>

#include "core/error.h"
#include "io/sampler.h"

namespace millrace::io {

TarShardStream::TarShardStream(std::vector<std::string> shards, AsyncReader& reader,
                               TarStreamOptions options)
    : shards_(std::move(shards)),
      options_(options),
      order_(EpochSampler(static_cast<int64_t>(shards_.size()), {.seed = options.seed,
                                                                 .shuffle = options.shuffle,
                                                                 .rank = options.rank,
                                                                 .world = options.world})
                 .Indices(options.epoch)),
      prefetcher_(
          reader, static_cast<int64_t>(order_.size()),
          [this](int64_t i) { return FileRange{shards_[static_cast<size_t>(order_[i])]}; },
          options.shards_in_flight),
      rng_(options.seed, static_cast<uint64_t>(options.epoch),
           0x7a25'0000'0000ULL + static_cast<uint64_t>(options.rank)) {}

bool TarShardStream::FillFromNextShard() {
  for (;;) {
    const int64_t position = prefetcher_.position();
    if (position >= prefetcher_.count()) return false;
    const int64_t shard = order_[static_cast<size_t>(position)];
    const std::string& path = shards_[static_cast<size_t>(shard)];
    std::optional<Bytes> bytes;
    try {
      bytes = prefetcher_.Next();
    } catch (const Error& e) {
      HandleBadRecord(e, options_.parse.policy, options_.parse.skip_log);
      continue;
    }
    std::vector<EncodedRecord> records = ParseTarShard(*bytes, path, shard, options_.parse);
    for (auto& r : records) pending_.push_back(std::move(r));
    if (!pending_.empty()) return true;
  }
}

std::optional<EncodedRecord> TarShardStream::Next() {
  const size_t capacity =
      options_.shuffle ? static_cast<size_t>(std::max<int64_t>(1, options_.shuffle_buffer)) : 1;
  // Top the buffer up to its capacity (reading shards as needed).
  while (buffer_.size() < capacity) {
    if (pending_.empty() && !FillFromNextShard()) break;
    buffer_.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  if (buffer_.empty()) return std::nullopt;
  size_t pick = 0;
  if (capacity > 1) pick = static_cast<size_t>(rng_.Below(buffer_.size()));
  std::swap(buffer_[pick], buffer_.back());
  EncodedRecord out = std::move(buffer_.back());
  buffer_.pop_back();
  return out;
}

}  // namespace millrace::io
