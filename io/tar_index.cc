#include "io/tar_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/error.h"
#include "io/record.h"

namespace millrace::io {
namespace {

constexpr char kMagic[16] = {'M', 'I', 'L', 'L', 'R', 'A', 'C', 'E',
                             'T', 'A', 'R', 'I', 'N', 'D', 'E', 'X'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kFixedHeaderBytes = 16 + 4 + 4 + 8 + 8;
constexpr uint64_t kEntryBytes = 12;
constexpr uint32_t kMaxNameBytes = 4096;
constexpr size_t kWriteBuffer = 64 * 1024;

// What makes an index current for one shard file.
struct ShardStamp {
  std::string name;  // the file name
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;
  uint64_t records = 0;  // in the index
};

std::string Why() { return std::strerror(errno); }

ShardStamp Stamp(const std::string& shard) {
  struct stat st {};
  if (::stat(shard.c_str(), &st) != 0)
    throw Error(ErrorKind::kIo, "cannot stat tar shard: " + Why()).WithFile(shard);
  return {.name = std::filesystem::path(shard).filename().string(),
          .bytes = static_cast<uint64_t>(st.st_size),
          .mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                      static_cast<int64_t>(st.st_mtim.tv_nsec)};
}

void Put(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t Get(const uint8_t* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t{p[i]} << (8 * i);
  return value;
}

std::string Header(const std::vector<ShardStamp>& stamps, int64_t max_label, uint64_t records) {
  std::string out(kMagic, sizeof(kMagic));
  Put(out, kVersion, 4);
  Put(out, stamps.size(), 4);
  Put(out, static_cast<uint64_t>(max_label), 8);
  Put(out, records, 8);
  for (const ShardStamp& s : stamps) {
    Put(out, s.name.size(), 4);
    out += s.name;
    Put(out, s.bytes, 8);
    Put(out, static_cast<uint64_t>(s.mtime_ns), 8);
    Put(out, s.records, 8);
  }
  return out;
}

// Writes all of `bytes` at `offset`; throws Error(kIo) naming `path`.
void WriteAll(int fd, const char* bytes, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, bytes, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(ErrorKind::kIo, "cannot write the tar index: " + Why()).WithFile(path);
    bytes += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

// Reads exactly n bytes at offset; false when the file ends first. Throws Error(kIo) on an error.
bool ReadAll(int fd, uint8_t* into, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, into, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error(ErrorKind::kIo, "cannot read the tar index: " + Why()).WithFile(path);
    if (r == 0) return false;
    into += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

// The partial file of WriteTarIndex: closed, and removed unless it was renamed into place.
struct PartialFile {
  std::string path;
  int fd = -1;
  bool kept = false;
  ~PartialFile() {
    if (fd >= 0) ::close(fd);
    if (!kept) ::unlink(path.c_str());
  }
};

}  // namespace

void WriteTarIndex(const std::string& path, const std::vector<std::string>& shards,
                   const TarParseOptions& parse) {
  std::vector<ShardStamp> stamps;
  stamps.reserve(shards.size());
  // Before the shards are read: a shard rewritten while it is indexed leaves the index stale.
  for (const std::string& shard : shards) stamps.push_back(Stamp(shard));
  PartialFile partial{.path = path + ".partial." + std::to_string(::getpid())};
  partial.fd = ::open(partial.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (partial.fd < 0)
    throw Error(ErrorKind::kIo, "cannot create the tar index: " + Why()).WithFile(path);
  // The header's size is known now (names); its counts are written at the end.
  uint64_t at = Header(stamps, -1, 0).size();
  std::string buffer;
  buffer.reserve(kWriteBuffer + kEntryBytes);
  auto flush = [&] {
    WriteAll(partial.fd, buffer.data(), buffer.size(), at, path);
    at += buffer.size();
    buffer.clear();
  };
  int64_t max_label = -1;
  uint64_t records = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    IndexTarShard(shards[s], static_cast<int64_t>(s), parse, [&](TarMember&& m) {
      // Checked before it is narrowed into the 12-byte entry.
      if (m.offset % kTarBlockBytes != 0 ||
          m.offset / kTarBlockBytes > std::numeric_limits<uint32_t>::max() ||
          m.size > std::numeric_limits<uint32_t>::max() ||
          m.label > std::numeric_limits<int32_t>::max()) {
        throw DataError(shards[s] + " [entry " + m.entry + "]", static_cast<int64_t>(records),
                        "tar entry at byte " + std::to_string(m.offset) + " of " +
                            std::to_string(m.size) + " bytes with label " +
                            std::to_string(m.label) + " does not fit the shard index");
      }
      Put(buffer, m.offset / kTarBlockBytes, 4);
      Put(buffer, m.size, 4);
      Put(buffer, static_cast<uint32_t>(m.label), 4);
      max_label = std::max(max_label, m.label);
      ++stamps[s].records;
      ++records;
      if (buffer.size() >= kWriteBuffer) flush();
    });
  }
  flush();
  const std::string header = Header(stamps, max_label, records);
  WriteAll(partial.fd, header.data(), header.size(), 0, path);
  const int fd = partial.fd;
  partial.fd = -1;
  if (::close(fd) != 0)
    throw Error(ErrorKind::kIo, "cannot write the tar index: " + Why()).WithFile(path);
  if (std::rename(partial.path.c_str(), path.c_str()) != 0)
    throw Error(ErrorKind::kIo, "cannot rename " + partial.path + ": " + Why()).WithFile(path);
  partial.kept = true;
}

TarIndexFile::TarIndexFile(std::string path, const std::vector<std::string>& shards)
    : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(ErrorKind::kIo, "cannot open the tar index: " + Why()).WithFile(path_);
  try {
    auto refuse = [&](const std::string& why) {
      throw Error(ErrorKind::kData, "tar index refused: " + why).WithFile(path_);
    };
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      throw Error(ErrorKind::kIo, "cannot stat the tar index: " + Why()).WithFile(path_);
    const auto file_bytes = static_cast<uint64_t>(st.st_size);
    uint64_t at = 0;
    auto read = [&](uint8_t* into, uint64_t n) {
      if (!ReadAll(fd_, into, static_cast<size_t>(n), at, path_))
        refuse("truncated: the file ends at byte " + std::to_string(file_bytes) +
               ", inside its header");
      at += n;
    };
    uint8_t fixed[kFixedHeaderBytes];
    read(fixed, sizeof(fixed));
    if (std::memcmp(fixed, kMagic, sizeof(kMagic)) != 0) refuse("not a millrace tar index");
    const auto version = static_cast<uint32_t>(Get(fixed + 16, 4));
    if (version != kVersion)
      refuse("version " + std::to_string(version) + ", expected " + std::to_string(kVersion));
    const uint64_t num_shards = Get(fixed + 20, 4);
    max_label_ = static_cast<int64_t>(Get(fixed + 24, 8));
    const uint64_t records = Get(fixed + 32, 8);
    if (num_shards != shards.size())
      refuse("stale: it indexes " + std::to_string(num_shards) + " shards, the directory holds " +
             std::to_string(shards.size()));
    uint64_t counted = 0;
    shard_first_.reserve(shards.size());
    for (const std::string& shard : shards) {
      uint8_t length_bytes[4];
      read(length_bytes, 4);
      const uint64_t length = Get(length_bytes, 4);
      if (length > kMaxNameBytes) refuse("a shard name of " + std::to_string(length) + " bytes");
      std::string name(static_cast<size_t>(length), '\0');
      read(reinterpret_cast<uint8_t*>(name.data()), length);
      uint8_t stamp[24];
      read(stamp, sizeof(stamp));
      const ShardStamp now = Stamp(shard);
      if (name != now.name) refuse("stale: it indexes " + name + " where the directory has " + now.name);
      if (Get(stamp, 8) != now.bytes || static_cast<int64_t>(Get(stamp + 8, 8)) != now.mtime_ns)
        refuse("stale: shard " + shard + " changed since it was indexed (size " +
               std::to_string(Get(stamp, 8)) + " -> " + std::to_string(now.bytes) +
               " bytes, or its modification time)");
      const uint64_t shard_records = Get(stamp + 16, 8);
      if (shard_records > records - counted)
        refuse("its shards hold more records than its total of " + std::to_string(records));
      shard_first_.push_back(static_cast<int64_t>(counted));
      counted += shard_records;
    }
    if (counted != records)
      refuse("its shards hold " + std::to_string(counted) + " records, its total says " +
             std::to_string(records));
    entries_at_ = at;
    const uint64_t have = file_bytes - entries_at_;  // >= 0: the header was read
    if (have / kEntryBytes < records)
      refuse("truncated: " + std::to_string(have / kEntryBytes) + " of " +
             std::to_string(records) + " records' entries (" + std::to_string(file_bytes) +
             " bytes)");
    if (have != records * kEntryBytes)
      refuse(std::to_string(have - records * kEntryBytes) + " bytes past its last entry");
    if (records > 0 && (max_label_ < 0 || max_label_ > std::numeric_limits<int32_t>::max()))
      refuse("largest label " + std::to_string(max_label_));
    size_ = static_cast<int64_t>(records);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

TarIndexFile::~TarIndexFile() {
  if (fd_ >= 0) ::close(fd_);
}

TarIndexEntry TarIndexFile::Entry(int64_t record) const {
  MILLRACE_CHECK_ARG(record >= 0 && record < size_,
                     "record " << record << " out of range [0, " << size_ << ")");
  uint8_t bytes[kEntryBytes];
  bool whole = false;
  try {
    whole = ReadAll(fd_, bytes, sizeof(bytes),
                    entries_at_ + static_cast<uint64_t>(record) * kEntryBytes, path_);
  } catch (const Error& e) {
    throw e.WithRecord(record);
  }
  if (!whole) {
    throw Error(ErrorKind::kIo, "the tar index ends before the entry of this record (cut after "
                                "it was opened)")
        .WithFile(path_)
        .WithRecord(record);
  }
  TarIndexEntry e{.offset_blocks = static_cast<uint32_t>(Get(bytes, 4)),
                  .size = static_cast<uint32_t>(Get(bytes + 4, 4)),
                  .label = static_cast<int32_t>(static_cast<uint32_t>(Get(bytes + 8, 4)))};
  if (e.label < 0)
    throw DataError(path_, record, "negative label " + std::to_string(e.label) + " in the index");
  return e;
}

}  // namespace millrace::io
