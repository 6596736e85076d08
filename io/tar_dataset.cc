#include "io/tar_dataset.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "io/async_reader.h"
#include "io/tar_shards.h"

namespace millrace::io {

namespace {
uint64_t PhysicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                               : ~uint64_t{0};
}
}  // namespace

TarDataset::TarDataset(const std::string& dir, TarDatasetOptions options)
    : options_(std::move(options)) {
  MILLRACE_CHECK(std::filesystem::is_directory(dir), ErrorKind::kIo,
                 "tar shard directory " << dir << " does not exist");
  shards_ = ListTarShards(dir);
  MILLRACE_CHECK(!shards_.empty(), ErrorKind::kIo, "no *.tar shard in " << dir);
  uint64_t bytes = 0;
  for (const std::string& shard : shards_) bytes += std::filesystem::file_size(shard);
  const uint64_t max_bytes = options_.max_bytes > 0 ? options_.max_bytes : PhysicalMemory() / 2;
  MILLRACE_CHECK_ARG(bytes <= max_bytes,
                     "the " << shards_.size() << " tar shards of " << dir << " hold " << bytes
                            << " bytes, more than the " << max_bytes
                            << " a TarDataset may keep in memory (half of this machine's); "
                               "train on an image tree or IDX files instead, or read the shards "
                               "as a stream (io::TarShardStream)");
  // In order: no shard shuffle, no sample shuffle; record i of the dataset is the i-th sample.
  AsyncReader reader;
  TarStreamOptions stream_options;
  stream_options.shuffle = false;
  stream_options.parse.num_classes = options_.num_classes;
  TarShardStream stream(shards_, reader, stream_options);
  int64_t largest = -1;
  while (std::optional<EncodedRecord> record = stream.Next()) {
    largest = std::max(largest, record->label);
    // The dataset's numbering (not the stream's shard << 32 | i): augmentation is seeded by it
    // and errors name it; the source and entry still name the shard and the tar entry.
    record->index = static_cast<int64_t>(records_.size());
    records_.push_back(std::move(*record));
  }
  MILLRACE_CHECK(!records_.empty(), ErrorKind::kData, "the shards of " << dir << " hold no sample");
  ExpectShapeOf(records_[0].bytes, records_[0].source + " [entry " + records_[0].entry + "]",
                options_.decode);
  num_classes_ = options_.num_classes > 0 ? options_.num_classes : largest + 1;
}

const EncodedRecord& TarDataset::record(int64_t index) const {
  MILLRACE_CHECK_ARG(index >= 0 && index < size(),
                     "record " << index << " out of range [0, " << size() << ")");
  return records_[static_cast<size_t>(index)];
}

Sample TarDataset::Read(int64_t index) const {
  return *DecodeRecord(record(index), options_.decode, BadInputPolicy::kFail);
}

}  // namespace millrace::io
