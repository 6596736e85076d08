// The WebDataset tar format: each sample is a run of consecutive entries that share a key (the
// path up to the first '.' of the file name): KEY.jpg / KEY.jpeg / KEY.png for the image and
// KEY.cls for the label (a decimal integer). Other entries are ignored. Parsing and writing of
// one shard in memory (libarchive); TarShardStream (io/tar_shards.h) streams many.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/async_reader.h"
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

// The streaming form: `read` hands over the shard's bytes piece by piece (a span that stays
// valid until the next call; an empty span at the end; it may throw Error(kIo), which the parse
// rethrows), and `emit` receives each record as soon as its sample is complete. Used by
// TarShardStream to parse shards on its io threads while they are still being read; records,
// indices and errors are those of the in-memory form.
void ParseTarShard(const std::function<std::span<const uint8_t>()>& read, const std::string& name,
                   int64_t shard_id, const TarParseOptions& options,
                   const std::function<void(EncodedRecord&&)>& emit);

// The path that one tar header block (512 bytes) names, read by libarchive; empty when the
// bytes are not a tar header. (A name longer than the header holds comes in a GNU or pax
// record before it: alone, the header gives its own, shortened name field.)
std::string TarHeaderName(std::span<const uint8_t> header);

// Where one sample's image lies in its (uncompressed) shard: bytes [offset, offset + size) of
// the shard file, as IndexTarShard finds them without reading the images.
struct TarMember {
  int64_t index = -1;  // (shard_id << 32) | ordinal, as ParseTarShard numbers records
  uint64_t offset = 0;
  uint64_t size = 0;
  int64_t label = -1;
  std::string entry;  // "KEY.jpg"
};

// Indexes the shard file `path`: reads its tar headers and label entries (libarchive, seeking
// past the images) and hands each complete sample to `emit`, in shard order. Samples, labels,
// numbering and bad-input handling are those of ParseTarShard. Throws Error(kIo) naming the
// shard when it can't be opened, Error(kData) naming the shard and entry (kFail) for bad input.
void IndexTarShard(const std::string& path, int64_t shard_id, const TarParseOptions& options,
                   const std::function<void(TarMember&&)>& emit);

// The shard files of a directory (*.tar), sorted.
std::vector<std::string> ListTarShards(const std::string& dir);

// Writes a tar (pax) archive of `entries` (name, bytes) to `path` through libarchive, via a
// temporary file renamed at the end. Throws Error(kIo) naming the file.
void WriteTar(const std::string& path, const std::vector<std::pair<std::string, Bytes>>& entries);

}  // namespace millrace::io
