// The index of a directory of tar shards kept on disk: where each record's image lies in its
// shard and its label, 12 bytes a record in a file that TarDataset{.in_memory = false} reads
// back with pread as records are due, so that the memory of training does not grow with the
// number of records (only a few bytes per shard stay in memory).
//
//   WriteTarIndex("/data/train/millrace.tarindex", shards, {.num_classes = 10});  // once
//   TarIndexFile index("/data/train/millrace.tarindex", shards);  // refused when stale
//   TarIndexEntry e = index.Entry(12345);                          // one pread
//
// Layout (little-endian): "MILLRACETARINDEX", u32 version, u32 shard count, i64 largest label,
// u64 records; per shard: u32 name length, the file name, u64 file size, i64 mtime (ns), u64
// records; then per record: u32 offset in 512-byte blocks, u32 size, i32 label.
// The shards' names, sizes and modification times are what makes an index current: a shard
// rewritten, added or removed makes it stale.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/tar_format.h"

namespace millrace::io {

// A tar archive's block: headers and member data start on one.
inline constexpr uint64_t kTarBlockBytes = 512;

// One record: bytes [offset_blocks * 512, + size) of its shard (tar data starts on a block).
struct TarIndexEntry {
  uint32_t offset_blocks = 0;
  uint32_t size = 0;
  int32_t label = 0;
};

// Indexes `shards` (IndexTarShard: headers and labels, the images are skipped) into the file
// `path`, written through `path`.partial.<pid> and renamed at the end (a reader never sees half an
// index). Throws the parse's Error(kData) naming the shard and the entry, Error(kData) naming the
// shard and entry of a record that does not fit 12 bytes (offset past 2 TiB, size or label past
// 32 bits), Error(kIo) naming `path` when it can't be written.
void WriteTarIndex(const std::string& path, const std::vector<std::string>& shards,
                   const TarParseOptions& parse);

// An index file opened for reading. Thread-safe: Entry may be called from any thread.
class TarIndexFile {
 public:
  // Opens `path` and checks it against the shard files `shards` (in the order listed). Throws
  // Error(kIo) naming `path` when it can't be opened, Error(kData) naming `path` when it is not
  // a tar index (or of another version), is truncated or overlong, or is stale (another list of
  // shards, a shard of another size or modification time; the message names the shard).
  TarIndexFile(std::string path, const std::vector<std::string>& shards);
  ~TarIndexFile();
  TarIndexFile(const TarIndexFile&) = delete;
  TarIndexFile& operator=(const TarIndexFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  int64_t size() const noexcept { return size_; }            // records
  int64_t max_label() const noexcept { return max_label_; }  // -1 without records
  // The first record of each shard (shard_first()[s] .. shard_first()[s + 1]).
  const std::vector<int64_t>& shard_first() const noexcept { return shard_first_; }

  // Record `record` (in [0, size())), read from the file. Throws Error(kIo) naming the file and
  // the record when the read fails or comes back short (the file cut after it was opened),
  // Error(kData) naming them when the entry's label is negative.
  TarIndexEntry Entry(int64_t record) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t entries_at_ = 0;  // where record 0's entry starts
  int64_t size_ = 0;
  int64_t max_label_ = -1;
  std::vector<int64_t> shard_first_;
};

}  // namespace millrace::io
