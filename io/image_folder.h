// Class-per-folder image trees, in the convention of torchvision's ImageFolder:
//
//   root/<class name>/<any name>.jpg|.jpeg|.png
//
// Classes are the subdirectories of root in sorted (byte-wise) order, numbered from 0; files are
// sorted by path within each class. Files are read whole, so an ImageFolderStream can keep many
// reads in flight through an AsyncReader while the cpu stages decode.
//
//   ImageFolderDataset tree("/data/fmnist-jpeg");
//   AsyncReader reader;
//   ImageFolderStream stream(tree, sampler.Indices(epoch), reader, {.prefetch_depth = 64});
//   while (auto record = stream.Next())                // io: bytes, in order
//     if (auto sample = DecodeRecord(*record, {}))      // cpu: decode
//       ...;
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/async_reader.h"
#include "io/dataset.h"
#include "io/image_codec.h"
#include "io/prefetcher.h"

namespace millrace::io {

struct ImageFolderOptions {
  DecodeOptions decode;
  // File name extensions taken as images (compared without case); other files are ignored.
  std::vector<std::string> extensions = {".jpg", ".jpeg", ".png"};
};

class ImageFolderDataset final : public IndexedDataset {
 public:
  struct File {
    std::string path;
    uint64_t bytes = 0;
    int64_t label = 0;
  };

  // Scans `root`. Throws Error(kIo) when root is missing or unreadable, Error(kData) when it
  // holds no class directory or no image.
  explicit ImageFolderDataset(const std::string& root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  // Reads the file on the calling thread and decodes it. Thread-safe.
  Sample Read(int64_t index) const override;

  const std::vector<std::string>& classes() const noexcept { return classes_; }
  const File& file(int64_t index) const;
  const std::string& root() const noexcept { return root_; }
  const ImageFolderOptions& options() const noexcept { return options_; }

 private:
  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<File> files_;
};

struct StreamOptions {
  int prefetch_depth = 64;  // reads in flight ahead of the consumer
  // kSkip: a file that can't be read is counted in skip_log and passed over.
  BadInputPolicy policy = BadInputPolicy::kFail;
  SkipLog* skip_log = nullptr;
};

// The encoded records of `order` (indices into the dataset), in that order, read ahead through
// `reader`. The dataset and the reader must outlive the stream. One consumer thread.
class ImageFolderStream final : public RecordStream {
 public:
  ImageFolderStream(const ImageFolderDataset& dataset, std::vector<int64_t> order,
                    AsyncReader& reader, StreamOptions options = {});

  // The next record, or nullopt at the end. Throws Error(kIo) naming the file (kFail).
  std::optional<EncodedRecord> Next() override;

 private:
  const ImageFolderDataset& dataset_;
  std::vector<int64_t> order_;
  StreamOptions options_;
  Prefetcher prefetcher_;
};

}  // namespace millrace::io
