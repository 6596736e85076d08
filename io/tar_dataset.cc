#include "io/tar_dataset.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <limits>

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

constexpr uint64_t kTarBlock = 512;
}  // namespace

TarDataset::TarDataset(const std::string& dir, TarDatasetOptions options)
    : options_(std::move(options)) {
  MILLRACE_CHECK(std::filesystem::is_directory(dir), ErrorKind::kIo,
                 "tar shard directory " << dir << " does not exist");
  shards_ = ListTarShards(dir);
  MILLRACE_CHECK(!shards_.empty(), ErrorKind::kIo, "no *.tar shard in " << dir);
  int64_t largest = -1;
  if (!options_.in_memory) {
    ReadIndex();
    for (const auto& shard : members_)
      for (const Member& m : shard) largest = std::max<int64_t>(largest, m.label);
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
  num_classes_ = options_.num_classes > 0 ? options_.num_classes : largest + 1;
}

void TarDataset::ReadIndex() {
  TarParseOptions parse;
  parse.num_classes = options_.num_classes;
  members_.resize(shards_.size());
  shard_first_.reserve(shards_.size());
  for (size_t s = 0; s < shards_.size(); ++s) {
    const std::string& shard = shards_[s];
    shard_first_.push_back(size_);
    std::vector<Member>& members = members_[s];
    IndexTarShard(shard, static_cast<int64_t>(s), parse, [&](TarMember&& m) {
      // Checked before it is narrowed into the 12-byte index entry.
      if (m.offset % kTarBlock != 0 ||
          m.offset / kTarBlock > std::numeric_limits<uint32_t>::max() ||
          m.size > std::numeric_limits<uint32_t>::max() ||
          m.label > std::numeric_limits<int32_t>::max()) {
        throw DataError(
            shard + " [entry " + m.entry + "]", size_ + static_cast<int64_t>(members.size()),
            "tar entry at byte " + std::to_string(m.offset) + " of " + std::to_string(m.size) +
                " bytes with label " + std::to_string(m.label) + " does not fit the shard index");
      }
      members.push_back({.offset_blocks = static_cast<uint32_t>(m.offset / kTarBlock),
                         .size = static_cast<uint32_t>(m.size),
                         .label = static_cast<int32_t>(m.label)});
    });
    members.shrink_to_fit();
    size_ += static_cast<int64_t>(members.size());
  }
}

std::pair<size_t, const TarDataset::Member*> TarDataset::Find(int64_t index) const {
  CheckIndex(index);
  const auto after = std::upper_bound(shard_first_.begin(), shard_first_.end(), index);
  const auto shard = static_cast<size_t>(after - shard_first_.begin() - 1);
  return {shard, &members_[shard][static_cast<size_t>(index - shard_first_[shard])]};
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
  return Find(index).second->label;
}

std::optional<RecordLocation> TarDataset::Locate(int64_t index) const {
  CheckIndex(index);
  if (options_.in_memory) return std::nullopt;
  const auto [shard, m] = Find(index);
  const uint64_t offset = uint64_t{m->offset_blocks} * kTarBlock;
  return RecordLocation{
      .range = {shards_[shard], offset, m->size},
      .label = m->label,
      .entry = "bytes " + std::to_string(offset) + ".." + std::to_string(offset + m->size)};
}

Sample TarDataset::Decode(const EncodedRecord& record) const {
  if (options_.in_memory) return Read(record.index);
  return *DecodeRecord(record, options_.decode, BadInputPolicy::kFail);
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
