// Class-per-folder image trees, in the convention of torchvision's ImageFolder:
//
//   root/<class name>/<any name>.jpg|.jpeg|.png
//
// Classes are the subdirectories of root in sorted (byte-wise) order, numbered from 0; files are
// sorted by path within each class. Files are read whole, so an ImageFolderStream can keep many
// reads in flight through an AsyncReader while the cpu stages decode. It reads files in groups
// (AsyncReader::ReadGroup): one hand-off and one wake-up per group, not per file.
//
//   ImageFolderDataset tree("/data/fmnist-jpeg");
//   AsyncReader reader;
//   ImageFolderStream stream(tree, sampler.Indices(epoch), reader, {.prefetch_depth = 64});
//   while (auto record = stream.Next())                // io: bytes, in order
//     if (auto sample = DecodeRecord(*record, {}))      // cpu: decode
//       ...;
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "io/async_reader.h"
#include "io/dataset.h"
#include "io/image_codec.h"

namespace millrace::io {

struct ImageFolderOptions {
  DecodeOptions decode;
  // File name extensions taken as images (compared without case); other files are ignored
  // and reported (ImageFolderDataset::ignored()).
  std::vector<std::string> extensions = {".jpg", ".jpeg", ".png"};
  // The image size of the tree is its first image's (DecodeOptions::height/width). kFail: an
  // undecodable first image fails the scan; kSkip: the first image that decodes sets it (those
  // before it fail again when read, where a skip policy passes them over).
  BadInputPolicy policy = BadInputPolicy::kFail;
};

// What a scan passed over: files of other extensions (beside the class folders too) and
// entries that are not regular files whatever their name (a FIFO, a socket, a device, a
// broken link). None of them is opened, so a FIFO can't hang the scan.
struct IgnoredEntries {
  static constexpr size_t kKept = 5;
  int64_t count = 0;
  // The kKept first paths in byte-wise order, relative to the root, with what they are where
  // that is not a plain file ("cat/x.jpg (a FIFO)").
  std::vector<std::string> first;
  // "3 entries under ROOT are not images and were ignored: cat/notes.txt, ..." (empty when
  // none was).
  std::string Note(const std::string& root) const;
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
  int64_t Label(int64_t index) const override { return file(index).label; }
  // The whole file (its size as scanned) and its label.
  std::optional<RecordLocation> Locate(int64_t index) const override;
  // Decodes the file's bytes (record.bytes); errors name the file and the record.
  Sample Decode(const EncodedRecord& record) const override;

  const std::vector<std::string>& classes() const noexcept { return classes_; }
  const File& file(int64_t index) const;
  const std::string& root() const noexcept { return root_; }
  const IgnoredEntries& ignored() const noexcept { return ignored_; }
  const ImageFolderOptions& options() const noexcept { return options_; }

 private:
  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<File> files_;
  IgnoredEntries ignored_;
};

struct StreamOptions {
  int prefetch_depth = 64;  // file reads in flight ahead of the consumer (>= 1)
  // Files per read job handed to the reader (>= 1); up to prefetch_depth / group_files jobs
  // run at once, so the pread pool's threads work on different groups.
  int group_files = 16;
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
  // Starts read groups until prefetch_depth files are in flight (or none is left).
  void Issue();

  const ImageFolderDataset& dataset_;
  std::vector<int64_t> order_;
  AsyncReader& reader_;
  StreamOptions options_;
  std::deque<std::future<std::vector<RangeResult>>> groups_;  // in flight, in order
  int64_t files_in_flight_ = 0;                               // in groups_
  int64_t issued_ = 0;                // positions of order_ handed to the reader
  std::vector<RangeResult> current_;  // the group being handed out
  size_t current_next_ = 0;
  int64_t position_ = 0;  // position in order_ of the next record
};

}  // namespace millrace::io
