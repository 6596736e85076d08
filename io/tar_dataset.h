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
// On disk (in_memory = false): the index (offset, size and label of each record, 12 bytes a
// record) is a file (io/tar_index.h), written at the first open from the tar headers and labels
// (IndexTarShard: the images are skipped) and reused while the shards are unchanged; Locate and
// Label read a record's entry with one pread, and Read reads the record's bytes from its shard.
// A few bytes per shard stay in memory, none per record: the shards and their index may be
// larger than memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/dataset.h"
#include "io/image_codec.h"
#include "io/record.h"
#include "io/tar_index.h"

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
  // The first record that decodes sets the image size every record must have. kFail: an
  // undecodable first record fails the open, naming the shard, the member and the record;
  // kSkip: it is passed over for the next one (it fails again when read, where the reader's
  // policy skips it), and the open fails only when none decodes.
  BadInputPolicy policy = BadInputPolicy::kFail;
  // On disk: the index file. Empty: millrace.tarindex in the shards' directory, or, when that
  // directory is not writable, tarindex-<hash of the directory> in $XDG_CACHE_HOME/millrace
  // (~/.cache/millrace; the system's temp directory without a home). A stale, truncated or
  // foreign index file there is refused (io/tar_index.h) and written anew.
  std::string index_path;
};

class TarDataset final : public IndexedDataset {
 public:
  // Reads every *.tar of `dir` (sorted by name). Record i is the i-th sample in shard order.
  // Throws Error(kIo) when dir is missing or holds no shard, Error(kData) naming the shard and
  // the entry of a malformed sample (no label, no image, a bad label) or a corrupt archive,
  // Error(kInvalidArgument) when the shards are larger than options.max_bytes, Error(kData)
  // naming the shard, member and record of an undecodable first image (options.policy); on disk,
  // Error(kIo) naming the index file when it can't be written or read.
  explicit TarDataset(const std::string& dir, TarDatasetOptions options = {});

  int64_t size() const override { return size_; }
  int64_t num_classes() const override { return num_classes_; }
  // Decodes record `index` (on disk: reads it first); a bad image throws Error(kData) naming
  // the shard, the entry and the index, an unreadable shard or index file Error(kIo) naming it
  // and the index. Thread-safe.
  Sample Read(int64_t index) const override;
  int64_t Label(int64_t index) const override;
  // On disk: the record's byte range in its shard; in memory: nullopt.
  std::optional<RecordLocation> Locate(int64_t index) const override;
  Sample Decode(const EncodedRecord& record) const override;

  const std::vector<std::string>& shards() const noexcept { return shards_; }
  // On disk: the index file in use (empty in memory).
  std::string index_path() const { return index_ ? index_->path() : std::string(); }
  // On disk: whether this open wrote the index file (false: a current one was reused).
  bool index_written() const noexcept { return index_written_; }
  // In memory only: the stored bytes, source and entry.
  const EncodedRecord& record(int64_t index) const;

 private:
  void OpenIndex(const std::string& dir);
  // Sets options_.decode's image size from the first record that decodes (options_.policy).
  void TakeShapeFromFirstGoodRecord();
  // "shard.tar [entry 000140.png, bytes 27648..28232]" (in memory: "shard.tar [entry 000140.png]").
  std::string DescribeRecord(int64_t index) const;
  void CheckIndex(int64_t index) const;

  TarDatasetOptions options_;
  std::vector<std::string> shards_;
  std::vector<EncodedRecord> records_;        // in memory
  std::unique_ptr<TarIndexFile> index_;       // on disk
  bool index_written_ = false;
  int64_t size_ = 0;
  int64_t num_classes_ = 0;
};

}  // namespace millrace::io
