// IndexedDataset: a dataset whose records can be read by index in any order (IDX files, image
// folders, tar shards through their index). Streams that can only be read in order are
// TarShardStream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "io/async_reader.h"
#include "io/record.h"

namespace millrace::io {

// Where a record's encoded bytes lie on disk: a byte range of a file, and the record's label.
// `entry` names the record inside the file for error messages (a tar entry), empty for a file
// that is one record.
struct RecordLocation {
  FileRange range;
  int64_t label = -1;
  std::string entry;
};

class IndexedDataset {
 public:
  virtual ~IndexedDataset() = default;

  // Number of records that can be read: indices [0, size()).
  virtual int64_t size() const = 0;
  // Labels lie in [0, num_classes()).
  virtual int64_t num_classes() const = 0;
  // The decoded record `index`: image u8 [C, H, W], its label and `index`. Throws
  // Error(kInvalidArgument) for an index out of range, Error(kData/kIo) naming the file and the
  // record for bad input. Thread-safe: any number of threads may call Read at once.
  virtual Sample Read(int64_t index) const = 0;
  // The label of record `index` alone. The default decodes the record; datasets that hold
  // their labels apart answer without reading the image.
  virtual int64_t Label(int64_t index) const { return Read(index).label; }

  // Where record `index` is stored, for datasets read from disk record by record (image trees,
  // tar shards on disk): a RecordReader (io/record_reader.h) reads that range asynchronously and
  // Decode turns the bytes into the Sample that Read returns. nullopt (the default) for datasets
  // held in memory (IDX): their records are copied out by Decode. Thread-safe.
  virtual std::optional<RecordLocation> Locate(int64_t /*index*/) const { return std::nullopt; }
  // The Sample of a record that a RecordReader handed over: bit for bit Read(record.index).
  // `record` holds the bytes of Locate(record.index)'s range, or no bytes where Locate gives
  // nullopt (the default then reads the record from memory). Throws as Read does. Thread-safe.
  virtual Sample Decode(const EncodedRecord& record) const { return Read(record.index); }
};

}  // namespace millrace::io
