// IDX files (MNIST, Fashion-MNIST): u8 arrays with a big-endian header, raw or gzip-compressed.
//
//   IdxDataset train = IdxDataset::FashionMnist("train");     // 60,000 records, 10 classes
//   Sample s = train.Read(7);                                  // image u8 [1, 28, 28]
//
// The files are read through an AsyncReader in chunks (several in flight, into reused buffers)
// and inflated while later chunks are still being read, into one buffer sized from the gzip
// trailer; the records then live in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "io/async_reader.h"
#include "io/dataset.h"

namespace millrace::io {

// Where the dataset-fashion-mnist package installs the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The header of an IDX file holding unsigned bytes (type code 0x08): dims and where data starts.
struct IdxHeader {
  std::vector<int64_t> dims;
  size_t data_offset = 0;
  int64_t record_bytes() const;  // product of dims[1:]
};

// Parses and validates the header (magic 00 00 08 NDIM, 1 <= NDIM <= 4, dims > 0). Throws
// Error(kData) naming `name` for a wrong magic, an unsupported type or a short header.
IdxHeader ParseIdxHeader(std::span<const uint8_t> bytes, const std::string& name);

// A whole IDX array in memory, decompressed when it is gzip (detected by its magic 1f 8b).
// Throws Error(kData) naming `name` and, where one is to blame, the record: corrupt or
// truncated gzip, wrong magic, data shorter or longer than the dims say.
struct IdxArray {
  IdxHeader header;
  Bytes bytes;  // the decompressed file; records start at header.data_offset
};
IdxArray ParseIdx(std::span<const uint8_t> file_bytes, const std::string& name,
                  uint64_t max_bytes = uint64_t{1} << 32);

// The decompressed size of an IDX file as the header at the start of `prefix` declares it
// (header plus dims[0] records), or 0 while `prefix` is too short to hold the header. Throws
// Error(kData) naming `name` when that size exceeds `max_bytes` (a header that claims 10^9
// images is refused before anything is allocated for them), or for a bad header.
uint64_t IdxDeclaredBytes(std::span<const uint8_t> prefix, const std::string& name,
                          uint64_t max_bytes);

// The number of whole records in a decompressed file of `bytes` bytes; `problem` is set when
// the data is shorter or longer than the dims say (empty when exact).
int64_t CompleteIdxRecords(const IdxHeader& header, size_t bytes, std::string* problem);

struct IdxOptions {
  // Labels must lie in [0, num_classes).
  int64_t num_classes = 10;
  // kFail: bad input throws. kSkip: records with a label out of range, records without a
  // partner (count mismatch) and records cut off by a truncated or corrupt gzip stream are
  // dropped and counted in skip_log.
  BadInputPolicy policy = BadInputPolicy::kFail;
  SkipLog* skip_log = nullptr;  // may be null; not owned
  // Reading: chunk size and chunks in flight (into as many reused buffers); `reader` may be
  // null (a private one is made).
  uint64_t chunk_bytes = uint64_t{1} << 20;
  int prefetch_depth = 4;
  AsyncReader* reader = nullptr;
  uint64_t max_bytes = uint64_t{1} << 32;  // decompressed size limit per file
};

class IdxDataset final : public IndexedDataset {
 public:
  // Loads an images file (dims [N, H, W] or [N, C, H, W]) and a labels file (dims [N]).
  static IdxDataset Load(const std::string& images_path, const std::string& labels_path,
                         const IdxOptions& options = {});
  // split: "train" (60,000 records) or "test" (10,000), from `dir`.
  static IdxDataset FashionMnist(const std::string& split,
                                 const std::string& dir = kFashionMnistDir,
                                 const IdxOptions& options = {});

  int64_t size() const override { return static_cast<int64_t>(records_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  // Thread-safe (the data is immutable after Load). index is in [0, size()); the Sample's
  // index is the record's position in the files (differs from `index` only after skips).
  Sample Read(int64_t index) const override;

  // [C, H, W] of every image.
  const Shape& image_shape() const noexcept { return image_shape_; }
  // Zero-copy access for collation: the pixels and label of record `index` (as in Read).
  std::span<const uint8_t> pixels(int64_t index) const;
  int64_t label(int64_t index) const;
  int64_t Label(int64_t index) const override { return label(index); }
  // Records dropped by the skip policy while loading.
  int64_t skipped() const noexcept { return skipped_; }

 private:
  IdxDataset() = default;

  Bytes images_;              // decompressed images file
  size_t images_offset_ = 0;  // where pixels start
  Bytes labels_;              // decompressed labels file
  size_t labels_offset_ = 0;
  Shape image_shape_;
  int64_t record_bytes_ = 0;
  int64_t num_classes_ = 0;
  std::vector<int64_t> records_;  // kept record numbers
  int64_t skipped_ = 0;
};

// Reads `path` whole through `reader` in chunks of `chunk_bytes`, `depth` in flight, and
// inflates it on the fly when it is gzip. Throws Error(kIo) / Error(kData) naming the file.
// `error_if_incomplete` (if not null) receives the error instead of a throw for a truncated or
// corrupt gzip stream, leaving the bytes decoded so far; output past `max_bytes` (or past the
// size `expect_size` reads from the first bytes: GzipInflater::ExpectSize) and bytes after the
// end of the gzip stream always throw.
Bytes ReadMaybeGzip(AsyncReader& reader, const std::string& path, uint64_t chunk_bytes, int depth,
                    uint64_t max_bytes, std::string* error_if_incomplete = nullptr,
                    std::function<uint64_t(std::span<const uint8_t>)> expect_size = nullptr);

}  // namespace millrace::io
