// TarDataset: a directory of WebDataset tar shards (io/tar_format.h; `millrace data to-tar`
// writes them) as an IndexedDataset, so that training can shuffle every record each epoch.
//
//   TarDataset train("/data/fmnist-tar/train");    // reads and parses every shard, once
//   Sample s = train.Read(i);                       // decodes record i
//
// In memory (the default): at construction the shards are read in order through a
// TarShardStream (its io threads read and parse while the next shard loads) and the records
// kept encoded in memory: the memory is about the shards' size (the JPEG or PNG bytes), not the
// decoded images'. Read decodes one record on the calling thread.
// On disk (in_memory = false): construction reads only the tar headers and labels
// (IndexTarShard) and keeps an index of 12 bytes per record (offset, size, label); Read
// reads the record's bytes from its shard, and Locate tells a RecordReader where they lie, so
// that the shards may be larger than memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/dataset.h"
#include "io/image_codec.h"
#include "io/record.h"

namespace millrace::io {

struct TarDatasetOptions {
  // Labels must lie in [0, num_classes); 0: the largest label seen + 1.
  int64_t num_classes = 0;
  DecodeOptions decode;
  // In memory: the shards may take at most this much memory (0: half of the machine's physical
  // memory); more is refused before anything is read.
  uint64_t max_bytes = 0;
  // false: keep an index only and read each record from its shard when it is read.
  bool in_memory = true;
};

class TarDataset final : public IndexedDataset {
 public:
  // Reads every *.tar of `dir` (sorted by name). Record i is the i-th sample in shard order.
  // Throws Error(kIo) when dir is missing or holds no shard, Error(kData) naming the shard and
  // the entry of a malformed sample (no label, no image, a bad label) or a corrupt archive,
  // Error(kInvalidArgument) when the shards are larger than options.max_bytes.
  explicit TarDataset(const std::string& dir, TarDatasetOptions options = {});

  int64_t size() const override { return size_; }
  int64_t num_classes() const override { return num_classes_; }
  // Decodes record `index` (on disk: reads it first); a bad image throws Error(kData) naming
  // the shard, the entry and the index, an unreadable shard Error(kIo) naming it and the index.
  // Thread-safe.
  Sample Read(int64_t index) const override;
  int64_t Label(int64_t index) const override;
  // On disk: the record's byte range in its shard; in memory: nullopt.
  std::optional<RecordLocation> Locate(int64_t index) const override;
  Sample Decode(const EncodedRecord& record) const override;

  const std::vector<std::string>& shards() const noexcept { return shards_; }
  // In memory only: the stored bytes, source and entry.
  const EncodedRecord& record(int64_t index) const;

 private:
  // A record on disk: bytes [offset_blocks * 512, + size) of its shard (tar data starts on a
  // 512-byte block). 12 bytes a record; the shard is found from shard_first_.
  struct Member {
    uint32_t offset_blocks = 0;
    uint32_t size = 0;
    int32_t label = 0;
  };
  void ReadIndex();
  void CheckIndex(int64_t index) const;
  // The shard of record `index` and the member.
  std::pair<size_t, const Member*> Find(int64_t index) const;

  TarDatasetOptions options_;
  std::vector<std::string> shards_;
  std::vector<EncodedRecord> records_;        // in memory
  std::vector<std::vector<Member>> members_;  // on disk, per shard (no reallocation of the lot)
  std::vector<int64_t> shard_first_;          // on disk: the first record of each shard
  int64_t size_ = 0;
  int64_t num_classes_ = 0;
};

}  // namespace millrace::io
