// IndexedDataset: a dataset whose records can be read by index in any order (IDX files, image
// folders). Streams that can only be read in order (tar shards) are TarShardStream.
#pragma once

#include <cstdint>

#include "io/record.h"

namespace millrace::io {

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
};

}  // namespace millrace::io
