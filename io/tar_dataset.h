// TarDataset: a directory of WebDataset tar shards (io/tar_format.h; `millrace data to-tar`
// writes them) as an IndexedDataset, so that training can shuffle every record each epoch.
//
//   TarDataset train("/data/fmnist-tar/train");    // reads and parses every shard, once
//   Sample s = train.Read(i);                       // decodes record i
//
// At construction the shards are read in order through a TarShardStream (its io threads read
// and parse while the next shard loads) and the records kept encoded in memory: the memory is
// about the shards' size (the JPEG or PNG bytes), not the decoded images'. Read decodes one
// record on the calling thread. Shards larger than memory are for TarShardStream alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/dataset.h"
#include "io/image_codec.h"
#include "io/record.h"

namespace millrace::io {

struct TarDatasetOptions {
  // Labels must lie in [0, num_classes); 0: the largest label seen + 1.
  int64_t num_classes = 0;
  DecodeOptions decode;
  // The shards may take at most this much memory (0: half of the machine's physical memory);
  // more is refused before anything is read.
  uint64_t max_bytes = 0;
};

class TarDataset final : public IndexedDataset {
 public:
  // Reads every *.tar of `dir` (sorted by name). Record i is the i-th sample in shard order.
  // Throws Error(kIo) when dir is missing or holds no shard, Error(kData) naming the shard and
  // the entry of a malformed sample (no label, no image, a bad label) or a corrupt archive,
  // Error(kInvalidArgument) when the shards are larger than options.max_bytes.
  explicit TarDataset(const std::string& dir, TarDatasetOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(records_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  // Decodes record `index`; a bad image throws Error(kData) naming the shard, the entry and
  // the index. Thread-safe.
  Sample Read(int64_t index) const override;
  int64_t Label(int64_t index) const override { return record(index).label; }

  const std::vector<std::string>& shards() const noexcept { return shards_; }
  const EncodedRecord& record(int64_t index) const;  // the stored bytes, source and entry

 private:
  TarDatasetOptions options_;
  std::vector<std::string> shards_;
  std::vector<EncodedRecord> records_;
  int64_t num_classes_ = 0;
};

}  // namespace millrace::io
