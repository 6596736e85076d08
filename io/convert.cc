#include "io/convert.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/tar_shards.h"

namespace millrace::io {
namespace fs = std::filesystem;

namespace {

std::string Padded(int64_t value, int width) {
  std::string s = std::to_string(value);
  if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<size_t>(width) - s.size(), '0');
  return s;
}

int Digits(int64_t n) {
  int d = 1;
  for (; n >= 10; n /= 10) ++d;
  return d;
}

Bytes Encode(const Tensor& image, const ConvertOptions& options) {
  MILLRACE_CHECK_ARG(options.format == ImageFormat::kJpeg || options.format == ImageFormat::kPng,
                     "convert to JPEG or PNG");
  return options.format == ImageFormat::kJpeg ? EncodeJpeg(image, options.jpeg_quality)
                                              : EncodePng(image);
}

const char* Extension(const ConvertOptions& options) {
  return options.format == ImageFormat::kJpeg ? ".jpg" : ".png";
}

void WriteWholeFile(const std::string& path, const Bytes& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(ErrorKind::kIo, std::string("cannot create: ") + std::strerror(errno))
        .WithFile(path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorKind::kIo, std::string("cannot write: ") + std::strerror(err))
          .WithFile(path);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0)
    throw Error(ErrorKind::kIo, std::string("cannot close: ") + std::strerror(errno))
        .WithFile(path);
}

// Records of `dataset` written once (the limit applied).
int64_t Count(const IndexedDataset& dataset, const ConvertOptions& options) {
  return options.limit < 0 ? dataset.size() : std::min(options.limit, dataset.size());
}

// Records written in all (every repeat), checked.
int64_t Total(const IndexedDataset& dataset, const ConvertOptions& options) {
  MILLRACE_CHECK_ARG(options.repeat >= 1, "repeat must be >= 1, got " << options.repeat);
  const int64_t n = Count(dataset, options);
  int64_t total = 0;
  MILLRACE_CHECK_ARG(!__builtin_mul_overflow(n, options.repeat, &total),
                     "repeat " << options.repeat << " of " << n << " records overflows");
  return total;
}

// Record k of the output: record k % n of the dataset, numbered k.
Sample ReadRepeated(const IndexedDataset& dataset, int64_t n, int64_t k) {
  Sample s = dataset.Read(k % n);
  s.index = k;
  return s;
}

void Progress(const ConvertOptions& options, int64_t done, int64_t total) {
  if (options.progress && (done % 5000 == 0 || done == total)) options.progress(done, total);
}

}  // namespace

int64_t WriteImageTree(const IndexedDataset& dataset, const std::string& root,
                       const ConvertOptions& options) {
  const int64_t n = Count(dataset, options);
  const int64_t total = Total(dataset, options);
  const int class_width = Digits(std::max<int64_t>(0, dataset.num_classes() - 1));
  const int record_width = std::max(
      6, Digits(std::max<int64_t>(0, options.repeat > 1 ? total - 1 : dataset.size() - 1)));
  std::vector<std::string> class_dirs;
  for (int64_t c = 0; c < dataset.num_classes(); ++c) {
    class_dirs.push_back((fs::path(root) / Padded(c, class_width)).string());
    std::error_code ec;
    fs::create_directories(class_dirs.back(), ec);
    if (ec)
      throw Error(ErrorKind::kIo, "cannot create: " + ec.message()).WithFile(class_dirs.back());
  }
  for (int64_t i = 0; i < total; ++i) {
    Sample s = ReadRepeated(dataset, n, i);
    WriteWholeFile(class_dirs[static_cast<size_t>(s.label)] + "/" + Padded(s.index, record_width) +
                       Extension(options),
                   Encode(s.image, options));
    Progress(options, i + 1, total);
  }
  return total;
}

std::vector<std::string> WriteTarShards(const IndexedDataset& dataset, const std::string& dir,
                                        const ConvertOptions& options) {
  MILLRACE_CHECK_ARG(options.samples_per_shard > 0, "samples_per_shard must be > 0");
  const int64_t n = Count(dataset, options);
  const int64_t total = Total(dataset, options);
  const int record_width = std::max(
      6, Digits(std::max<int64_t>(0, options.repeat > 1 ? total - 1 : dataset.size() - 1)));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot create: " + ec.message()).WithFile(dir);
  std::vector<std::string> shards;
  for (int64_t begin = 0; begin < total; begin += options.samples_per_shard) {
    const int64_t end = std::min(total, begin + options.samples_per_shard);
    std::vector<std::pair<std::string, Bytes>> entries;
    for (int64_t i = begin; i < end; ++i) {
      Sample s = ReadRepeated(dataset, n, i);
      const std::string key = Padded(s.index, record_width);
      entries.emplace_back(key + Extension(options), Encode(s.image, options));
      const std::string label = std::to_string(s.label);
      entries.emplace_back(key + ".cls", Bytes(label.begin(), label.end()));
      Progress(options, i + 1, total);
    }
    shards.push_back(
        (fs::path(dir) / ("shard-" + Padded(static_cast<int64_t>(shards.size()), 6) + ".tar"))
            .string());
    WriteTar(shards.back(), entries);
  }
  return shards;
}

}  // namespace millrace::io
