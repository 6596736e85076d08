#include "io/tar_dataset.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "io/async_reader.h"
#include "io/tar_format.h"
#include "io/tar_shards.h"

namespace millrace::io {

namespace {
uint64_t PhysicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                               : ~uint64_t{0};
}

// Beside the shards when their directory is writable, else in the user's cache directory under a
// name that the directory's absolute path hashes to (FNV-1a: the same name in every build).
std::string DefaultIndexPath(const std::string& dir) {
  namespace fs = std::filesystem;
  if (::access(dir.c_str(), W_OK) == 0) return (fs::path(dir) / "millrace.tarindex").string();
  fs::path cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    cache = fs::path(xdg) / "millrace";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    cache = fs::path(home) / ".cache" / "millrace";
  } else {
    cache = fs::temp_directory_path() / "millrace";
  }
  std::error_code ec;
  fs::create_directories(cache, ec);  // when it fails, writing the index names the file
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : fs::absolute(dir).lexically_normal().string()) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  char name[32];
  std::snprintf(name, sizeof(name), "tarindex-%016llx", static_cast<unsigned long long>(hash));
  return (cache / name).string();
}
// The name of the tar member whose data starts at `offset` of `shard`, from its header, the
// block before the data (TarHeaderName). Empty when the block can't be read or is not a header.
// Only on an error's path: the index holds no names.
std::string MemberName(const std::string& shard, uint64_t offset) {
  if (offset < kTarBlockBytes) return {};
  try {
    return TarHeaderName(ReadRangeSync({shard, offset - kTarBlockBytes, kTarBlockBytes}));
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

TarDataset::TarDataset(const std::string& dir, TarDatasetOptions options)
    : options_(std::move(options)) {
  MILLRACE_CHECK(std::filesystem::is_directory(dir), ErrorKind::kIo,
                 "tar shard directory " << dir << " does not exist");
  shards_ = ListTarShards(dir);
  MILLRACE_CHECK(!shards_.empty(), ErrorKind::kIo, "no *.tar shard in " << dir);
  int64_t largest = -1;
  if (!options_.in_memory) {
    OpenIndex(dir);
    largest = index_->max_label();
  } else {
    uint64_t bytes = 0;
    for (const std::string& shard : shards_) bytes += std::filesystem::file_size(shard);
    const uint64_t max_bytes = options_.max_bytes > 0 ? options_.max_bytes : PhysicalMemory() / 2;
    MILLRACE_CHECK_ARG(bytes <= max_bytes,
                       "the " << shards_.size() << " tar shards of " << dir << " hold " << bytes
                              << " bytes, more than the " << max_bytes
                              << " a TarDataset may keep in memory (half of this machine's); "
                                 "open it with in_memory = false, or read the shards as a "
                                 "stream (io::TarShardStream)");
    // In order: no shard shuffle, no sample shuffle; record i of the dataset is the i-th sample.
    AsyncReader reader;
    TarStreamOptions stream_options;
    stream_options.shuffle = false;
    stream_options.parse.num_classes = options_.num_classes;
    TarShardStream stream(shards_, reader, stream_options);
    while (std::optional<EncodedRecord> record = stream.Next()) {
      largest = std::max(largest, record->label);
      // The dataset's numbering (not the stream's shard << 32 | i): augmentation is seeded by it
      // and errors name it; the source and entry still name the shard and the tar entry.
      record->index = static_cast<int64_t>(records_.size());
      records_.push_back(std::move(*record));
    }
    size_ = static_cast<int64_t>(records_.size());
  }
  MILLRACE_CHECK(size_ > 0, ErrorKind::kData, "the shards of " << dir << " hold no sample");
  TakeShapeFromFirstGoodRecord();
  num_classes_ = options_.num_classes > 0 ? options_.num_classes : largest + 1;
}

// Every image must have the size of the first that decodes: checked at each header as records
// decode.
void TarDataset::TakeShapeFromFirstGoodRecord() {
  for (int64_t i = 0;; ++i) {
    try {
      if (options_.in_memory) {
        ExpectShapeOf(records_[static_cast<size_t>(i)].bytes, DescribeRecord(i), options_.decode);
      } else {
        const RecordLocation where = *Locate(i);
        try {
          ExpectShapeOf(ReadRangeSync(where.range), where.range.path, options_.decode);
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::kData) throw;
          throw DataError(DescribeRecord(i), std::nullopt, e.message());
        }
      }
      return;
    } catch (const Error& e) {
      const Error named = e.record() ? e : e.WithRecord(i);
      if (options_.policy == BadInputPolicy::kFail || e.kind() != ErrorKind::kData ||
          i + 1 == size_) {
        throw named;
      }
    }
  }
}

std::string TarDataset::DescribeRecord(int64_t index) const {
  if (options_.in_memory) {
    const EncodedRecord& r = records_[static_cast<size_t>(index)];
    return r.source + " [entry " + r.entry + "]";
  }
  const RecordLocation where = *Locate(index);
  const std::string name = MemberName(where.range.path, where.range.offset);
  return where.range.path + " [entry " + (name.empty() ? "" : name + ", ") + where.entry + "]";
}

void TarDataset::OpenIndex(const std::string& dir) {
  const std::string path =
      options_.index_path.empty() ? DefaultIndexPath(dir) : options_.index_path;
  // An index file that is current is used as it is; one refused (stale, truncated, not an
  // index) or with labels past num_classes (the parse then names the record) is written anew.
  if (std::filesystem::exists(path)) {
    try {
      index_ = std::make_unique<TarIndexFile>(path, shards_);
      if (options_.num_classes > 0 && index_->max_label() >= options_.num_classes) index_.reset();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kData) throw;
      index_.reset();
    }
  }
  if (!index_) {
    TarParseOptions parse;
    parse.num_classes = options_.num_classes;
    WriteTarIndex(path, shards_, parse);
    index_ = std::make_unique<TarIndexFile>(path, shards_);
    index_written_ = true;
  }
  size_ = index_->size();
}

void TarDataset::CheckIndex(int64_t index) const {
  MILLRACE_CHECK_ARG(index >= 0 && index < size(),
                     "record " << index << " out of range [0, " << size() << ")");
}

const EncodedRecord& TarDataset::record(int64_t index) const {
  CheckIndex(index);
  MILLRACE_CHECK_ARG(options_.in_memory, "TarDataset::record: the records are on disk (Locate)");
  return records_[static_cast<size_t>(index)];
}

int64_t TarDataset::Label(int64_t index) const {
  CheckIndex(index);
  if (options_.in_memory) return records_[static_cast<size_t>(index)].label;
  return index_->Entry(index).label;
}

std::optional<RecordLocation> TarDataset::Locate(int64_t index) const {
  CheckIndex(index);
  if (options_.in_memory) return std::nullopt;
  const TarIndexEntry m = index_->Entry(index);
  const std::vector<int64_t>& first = index_->shard_first();
  const auto shard =
      static_cast<size_t>(std::upper_bound(first.begin(), first.end(), index) - first.begin() - 1);
  const uint64_t offset = uint64_t{m.offset_blocks} * kTarBlockBytes;
  return RecordLocation{
      .range = {shards_[shard], offset, m.size},
      .label = m.label,
      .entry = "bytes " + std::to_string(offset) + ".." + std::to_string(offset + m.size)};
}

Sample TarDataset::Decode(const EncodedRecord& record) const {
  if (options_.in_memory) return Read(record.index);
  try {
    return *DecodeRecord(record, options_.decode, BadInputPolicy::kFail);
  } catch (const Error& e) {
    // Name the tar member (the index keeps only where its bytes lie).
    if (e.kind() != ErrorKind::kData || record.index < 0 || record.index >= size()) throw;
    const RecordLocation where = *Locate(record.index);
    const std::string name = MemberName(where.range.path, where.range.offset);
    if (name.empty()) throw;
    throw DataError(record.source + " [entry " + name + ", " + record.entry + "]", record.index,
                    e.message());
  }
}

Sample TarDataset::Read(int64_t index) const {
  if (options_.in_memory) {
    return *DecodeRecord(record(index), options_.decode, BadInputPolicy::kFail);
  }
  const RecordLocation where = *Locate(index);
  EncodedRecord r;
  try {
    r.bytes = ReadRangeSync(where.range);
  } catch (const Error& e) {
    throw e.WithRecord(index);
  }
  r.label = where.label;
  r.index = index;
  r.source = where.range.path;
  r.entry = where.entry;
  return Decode(r);
}

}  // namespace millrace::io
