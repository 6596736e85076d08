#include "io/idx.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>

#include "core/error.h"
#include "io/gzip.h"
#include "io/prefetcher.h"

namespace millrace::io {

Bytes ReadMaybeGzip(AsyncReader& reader, const std::string& path, uint64_t chunk_bytes, int depth,
                    uint64_t max_bytes, std::string* error_if_incomplete,
                    std::function<uint64_t(std::span<const uint8_t>)> expect_size) {
  MILLRACE_CHECK_ARG(chunk_bytes > 0, "chunk_bytes must be > 0");
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot open: " + ec.message()).WithFile(path);
  // The gzip trailer's ISIZE (the decompressed size mod 2^32), read beside the first chunks: the
  // output is then allocated once instead of grown and copied as it fills.
  std::future<Bytes> trailer;
  if (size >= 18) trailer = reader.Read({path, size - 4, 4});
  // Chunks land in a few reused buffers and are inflated from there, later ones still reading.
  ChunkReader chunks(reader, path, size, chunk_bytes, depth);
  std::span<const uint8_t> chunk = chunks.Next();
  if (chunk.empty() || !IsGzip(chunk)) {  // raw: concatenate the chunks
    Bytes all;
    all.reserve(size);
    for (; !chunk.empty(); chunk = chunks.Next()) all.insert(all.end(), chunk.begin(), chunk.end());
    return all;
  }
  GzipInflater inflater(path, max_bytes);
  if (expect_size) inflater.ExpectSize(std::move(expect_size));
  if (trailer.valid()) {
    const Bytes isize = trailer.get();  // an Error(kIo) here is the file's, as for any chunk
    const uint64_t hint = uint64_t{isize[0]} | (uint64_t{isize[1]} << 8) |
                          (uint64_t{isize[2]} << 16) | (uint64_t{isize[3]} << 24);
    // deflate expands at most ~1032:1; a larger hint is a corrupt trailer, not a size.
    if (hint <= size * 1032) inflater.Reserve(hint);
  }
  try {
    for (; !chunk.empty(); chunk = chunks.Next()) inflater.Feed(chunk);
    if (!inflater.finished()) {
      throw DataError(path, std::nullopt,
                      "truncated gzip stream: it ends after " +
                          std::to_string(inflater.total_out()) + " decompressed bytes");
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kData || error_if_incomplete == nullptr || inflater.refused()) throw;
    *error_if_incomplete = e.message();
  }
  if (inflater.trailing_bytes() > 0) {
    throw DataError(path, std::nullopt,
                    std::to_string(inflater.trailing_bytes()) +
                        " bytes after the end of the gzip stream (a second gzip member or "
                        "trailing garbage)");
  }
  return inflater.Take();
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
  file.bytes = ReadMaybeGzip(
      reader, path, options.chunk_bytes, options.prefetch_depth, options.max_bytes, &stream_error,
      [&](std::span<const uint8_t> prefix) {
        return IdxDeclaredBytes(prefix, path, options.max_bytes);
      });
  try {
    file.header = ParseIdxHeader(file.bytes, path);  // a broken header is never skippable
  } catch (const Error&) {
    if (!stream_error.empty()) throw DataError(path, std::nullopt, stream_error);
    throw;
  }
  std::string problem;
  file.complete = CompleteIdxRecords(file.header, file.bytes.size(), &problem);
  const int64_t declared = file.header.dims[0];
  if (!stream_error.empty()) problem = stream_error;
  if (problem.empty()) return file;
  if (file.complete == declared) {
    // Trailing bytes, or every record whole but the gzip CRC or length wrong: the file is wrong
    // as a whole, no record is to blame.
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
  // The (small) labels file loads on a helper thread while this one inflates the images, so
  // that its round trips to the io thread are not waited for one after the other. The images'
  // errors come first, as they would loading one file after the other.
  std::future<LoadedIdx> labels_loading =
      std::async(std::launch::async, [&] { return LoadIdxFile(*reader, labels_path, options); });
  LoadedIdx images = LoadIdxFile(*reader, images_path, options);
  LoadedIdx labels = labels_loading.get();

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
