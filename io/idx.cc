#include "io/idx.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "io/gzip.h"
#include "io/prefetcher.h"

namespace millrace::io {
namespace {

constexpr uint8_t kTypeU8 = 0x08;

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The number of whole records in `bytes` after the header, and the check that there are exactly
// as many as the dims say. Returns the count of complete records; `problem` describes a
// mismatch (empty when the size is exact).
int64_t CompleteRecords(const IdxHeader& header, size_t bytes, std::string* problem) {
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

}  // namespace

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

Bytes ReadMaybeGzip(AsyncReader& reader, const std::string& path, uint64_t chunk_bytes, int depth,
                    uint64_t max_bytes, std::string* error_if_incomplete) {
  MILLRACE_CHECK_ARG(chunk_bytes > 0, "chunk_bytes must be > 0");
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot open: " + ec.message()).WithFile(path);
  const int64_t chunks = static_cast<int64_t>((size + chunk_bytes - 1) / chunk_bytes);
  Prefetcher prefetcher(
      reader, chunks,
      [&](int64_t i) {
        const uint64_t offset = static_cast<uint64_t>(i) * chunk_bytes;
        return FileRange{path, offset, std::min(chunk_bytes, size - offset)};
      },
      depth);
  std::optional<Bytes> chunk = prefetcher.Next();
  if (!chunk || !IsGzip(*chunk)) {  // raw: concatenate the chunks
    Bytes all;
    all.reserve(size);
    for (; chunk; chunk = prefetcher.Next()) all.insert(all.end(), chunk->begin(), chunk->end());
    return all;
  }
  GzipInflater inflater(path, max_bytes);
  try {
    for (; chunk; chunk = prefetcher.Next()) inflater.Feed(*chunk);
    if (!inflater.finished()) {
      throw DataError(path, std::nullopt,
                      "truncated gzip stream: it ends after " +
                          std::to_string(inflater.total_out()) + " decompressed bytes");
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kData || error_if_incomplete == nullptr) throw;
    *error_if_incomplete = e.message();
  }
  return inflater.Take();
}

IdxArray ParseIdx(std::span<const uint8_t> file_bytes, const std::string& name,
                  uint64_t max_bytes) {
  IdxArray array;
  if (IsGzip(file_bytes)) {
    GzipInflater inflater(name, max_bytes);
    inflater.Feed(file_bytes);
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
  const int64_t complete = CompleteRecords(array.header, array.bytes.size(), &problem);
  if (!problem.empty()) {
    throw DataError(
        name, complete < array.header.dims[0] ? std::optional<int64_t>(complete) : std::nullopt,
        problem);
  }
  return array;
}

namespace {

// One file of a pair, loaded with the policy applied to truncation: `complete` says how many
// records it holds whole.
struct LoadedIdx {
  Bytes bytes;
  IdxHeader header;
  int64_t complete = 0;
};

LoadedIdx LoadIdxFile(AsyncReader& reader, const std::string& path, const IdxOptions& options) {
  LoadedIdx file;
  std::string stream_error;
  file.bytes = ReadMaybeGzip(reader, path, options.chunk_bytes, options.prefetch_depth,
                             options.max_bytes, &stream_error);
  try {
    file.header = ParseIdxHeader(file.bytes, path);  // a broken header is never skippable
  } catch (const Error&) {
    if (!stream_error.empty()) throw DataError(path, std::nullopt, stream_error);
    throw;
  }
  std::string problem;
  file.complete = CompleteRecords(file.header, file.bytes.size(), &problem);
  const int64_t declared = file.header.dims[0];
  if (!stream_error.empty()) problem = stream_error;
  if (problem.empty()) return file;
  if (file.complete == declared && stream_error.empty()) {  // trailing bytes: the file is wrong
    throw DataError(path, std::nullopt, problem);
  }
  Error error = DataError(path, file.complete,
                          problem + " (record " + std::to_string(file.complete) + " of " +
                              std::to_string(declared) + " is incomplete)");
  if (options.policy == BadInputPolicy::kFail) throw error;
  if (options.skip_log) options.skip_log->Record(error);
  return file;
}

}  // namespace

IdxDataset IdxDataset::Load(const std::string& images_path, const std::string& labels_path,
                            const IdxOptions& options) {
  MILLRACE_CHECK_ARG(options.num_classes > 0, "num_classes must be > 0");
  std::optional<AsyncReader> own_reader;
  AsyncReader* reader = options.reader;
  if (reader == nullptr) reader = &own_reader.emplace();

  IdxDataset ds;
  ds.num_classes_ = options.num_classes;
  LoadedIdx images = LoadIdxFile(*reader, images_path, options);
  LoadedIdx labels = LoadIdxFile(*reader, labels_path, options);

  const auto& idims = images.header.dims;
  if (idims.size() == 3) {
    ds.image_shape_ = {1, idims[1], idims[2]};
  } else if (idims.size() == 4) {
    ds.image_shape_ = {idims[1], idims[2], idims[3]};
  } else {
    throw DataError(images_path, std::nullopt,
                    "an images file has dims [N, H, W] or [N, C, H, W], not rank " +
                        std::to_string(idims.size()));
  }
  if (labels.header.dims.size() != 1) {
    throw DataError(
        labels_path, std::nullopt,
        "a labels file has dims [N], not rank " + std::to_string(labels.header.dims.size()));
  }
  const int64_t n_images = images.header.dims[0];
  const int64_t n_labels = labels.header.dims[0];
  if (n_images != n_labels) {
    Error error = DataError(images_path, std::min(n_images, n_labels),
                            std::to_string(n_images) + " images but " + std::to_string(n_labels) +
                                " labels in " + labels_path);
    if (options.policy == BadInputPolicy::kFail) throw error;
    if (options.skip_log) options.skip_log->Record(error);
  }
  // Pair what both files hold completely. Every declared record that is not kept (cut off,
  // without a partner, or with a bad label) counts as skipped once, at the end.
  const int64_t usable = std::min(images.complete, labels.complete);
  ds.images_ = std::move(images.bytes);
  ds.images_offset_ = images.header.data_offset;
  ds.labels_ = std::move(labels.bytes);
  ds.labels_offset_ = labels.header.data_offset;
  ds.record_bytes_ = images.header.record_bytes();
  ds.records_.reserve(static_cast<size_t>(usable));
  for (int64_t i = 0; i < usable; ++i) {
    const int64_t label = ds.labels_[ds.labels_offset_ + static_cast<size_t>(i)];
    if (label >= ds.num_classes_) {
      Error error = DataError(labels_path, i,
                              "label " + std::to_string(label) + " out of range [0, " +
                                  std::to_string(ds.num_classes_) + ")");
      if (options.policy == BadInputPolicy::kFail) throw error;
      if (options.skip_log) options.skip_log->Record(error);
      continue;
    }
    ds.records_.push_back(i);
  }
  ds.skipped_ = std::max(n_images, n_labels) - ds.size();
  return ds;
}

IdxDataset IdxDataset::FashionMnist(const std::string& split, const std::string& dir,
                                    const IdxOptions& options) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test" || split == "t10k") {
    prefix = "t10k";
  } else {
    MILLRACE_THROW(ErrorKind::kInvalidArgument,
                   "Fashion-MNIST split is 'train' or 'test', not '" << split << "'");
  }
  return Load(dir + "/" + prefix + "-images-idx3-ubyte.gz",
              dir + "/" + prefix + "-labels-idx1-ubyte.gz", options);
}

std::span<const uint8_t> IdxDataset::pixels(int64_t index) const {
  MILLRACE_CHECK_ARG(index >= 0 && index < size(),
                     "record " << index << " out of range [0, " << size() << ")");
  const size_t record = static_cast<size_t>(records_[static_cast<size_t>(index)]);
  return {images_.data() + images_offset_ + record * static_cast<size_t>(record_bytes_),
          static_cast<size_t>(record_bytes_)};
}

int64_t IdxDataset::label(int64_t index) const {
  MILLRACE_CHECK_ARG(index >= 0 && index < size(),
                     "record " << index << " out of range [0, " << size() << ")");
  return labels_[labels_offset_ + static_cast<size_t>(records_[static_cast<size_t>(index)])];
}

Sample IdxDataset::Read(int64_t index) const {
  std::span<const uint8_t> src = pixels(index);
  Sample sample;
  sample.image = Tensor::Empty(image_shape_, DType::kU8);
  std::memcpy(sample.image.raw_data(), src.data(), src.size());
  sample.label = label(index);
  sample.index = records_[static_cast<size_t>(index)];
  return sample;
}

}  // namespace millrace::io
