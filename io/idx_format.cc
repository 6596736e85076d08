#include <algorithm>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "io/gzip.h"
#include "io/idx.h"

namespace millrace::io {
namespace {

constexpr uint8_t kTypeU8 = 0x08;

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

int64_t CompleteIdxRecords(const IdxHeader& header, size_t bytes, std::string* problem) {
  const int64_t declared = header.dims[0];
  const int64_t record = header.record_bytes();
  const uint64_t have = bytes - header.data_offset;
  const uint64_t want = static_cast<uint64_t>(declared) * static_cast<uint64_t>(record);
  if (have < want) {
    *problem =
        "data ends after " + std::to_string(have) + " bytes, the dims say " + std::to_string(want);
    return static_cast<int64_t>(have / static_cast<uint64_t>(record));
  }
  if (have > want) *problem = std::to_string(have - want) + " bytes after the last record";
  return declared;
}

uint64_t IdxDeclaredBytes(std::span<const uint8_t> prefix, const std::string& name,
                          uint64_t max_bytes) {
  if (prefix.size() < 4 || prefix.size() < 4 + 4 * size_t{prefix[3]}) return 0;
  const IdxHeader header = ParseIdxHeader(prefix, name);
  const auto records = static_cast<uint64_t>(header.dims[0]);
  const auto record = static_cast<uint64_t>(header.record_bytes());
  uint64_t data = 0, total = 0;
  if (__builtin_mul_overflow(records, record, &data) ||
      __builtin_add_overflow(data, header.data_offset, &total) || total > max_bytes) {
    throw DataError(name, std::nullopt,
                    "the IDX header declares " + std::to_string(records) + " records of " +
                        std::to_string(record) + " bytes, more than the limit of " +
                        std::to_string(max_bytes) + " bytes (IdxOptions::max_bytes)");
  }
  return std::max<uint64_t>(total, 1);
}

int64_t IdxHeader::record_bytes() const {
  int64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

IdxHeader ParseIdxHeader(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() < 4) throw DataError(name, std::nullopt, "too short for an IDX header");
  if (bytes[0] != 0 || bytes[1] != 0) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "%02x %02x %02x %02x", bytes[0], bytes[1], bytes[2],
                  bytes[3]);
    throw DataError(name, std::nullopt,
                    std::string("wrong magic ") + magic + ": not an IDX file (00 00 08 NDIM)");
  }
  if (bytes[2] != kTypeU8) {
    throw DataError(name, std::nullopt,
                    "IDX element type 0x" + std::to_string(bytes[2]) +
                        " is not supported (only unsigned bytes, 0x08)");
  }
  const int ndim = bytes[3];
  if (ndim < 1 || ndim > 4)
    throw DataError(name, std::nullopt, "IDX rank " + std::to_string(ndim) + " outside [1, 4]");
  IdxHeader header;
  header.data_offset = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header.data_offset)
    throw DataError(name, std::nullopt,
                    "IDX header cut off after " + std::to_string(bytes.size()) + " bytes");
  uint64_t record = 1;
  for (int i = 0; i < ndim; ++i) {
    const uint32_t d = BigEndian32(bytes.data() + 4 + 4 * i);
    if (d == 0 && i > 0)
      throw DataError(name, std::nullopt, "IDX dimension " + std::to_string(i) + " is 0");
    if (i > 0) record *= d;
    if (record > (uint64_t{1} << 32))
      throw DataError(name, std::nullopt, "IDX record larger than 4 GiB");
    header.dims.push_back(d);
  }
  return header;
}

IdxArray ParseIdx(std::span<const uint8_t> file_bytes, const std::string& name,
                  uint64_t max_bytes) {
  IdxArray array;
  if (IsGzip(file_bytes)) {
    GzipInflater inflater(name, max_bytes);
    inflater.ExpectSize([&](std::span<const uint8_t> prefix) {
      return IdxDeclaredBytes(prefix, name, max_bytes);
    });
    inflater.Feed(file_bytes);
    if (inflater.trailing_bytes() > 0) {
      throw DataError(name, std::nullopt,
                      std::to_string(inflater.trailing_bytes()) +
                          " bytes after the end of the gzip stream");
    }
    if (!inflater.finished()) {
      throw DataError(name, std::nullopt,
                      "truncated gzip stream: it ends after " +
                          std::to_string(inflater.total_out()) + " decompressed bytes");
    }
    array.bytes = inflater.Take();
  } else {
    array.bytes.assign(file_bytes.begin(), file_bytes.end());
  }
  array.header = ParseIdxHeader(array.bytes, name);
  std::string problem;
  const int64_t complete = CompleteIdxRecords(array.header, array.bytes.size(), &problem);
  if (!problem.empty()) {
    throw DataError(
        name, complete < array.header.dims[0] ? std::optional<int64_t>(complete) : std::nullopt,
        problem);
  }
  return array;
}

}  // namespace millrace::io
