// libFuzzer target: the image-tree scan (ImageFolderDataset) over a directory tree that the
// input describes, built in a fresh directory under /dev/shm (or $TMPDIR) for each input: class
// folders and nested folders with odd names, images (two valid PNGs of different sizes, or
// fuzzed bytes), files of other extensions beside and inside the classes, empty files, FIFOs
// named like images, and symbolic links (to nothing, to an image, to a folder, to themselves).
// The scan and every Read of what it lists must end (a FIFO opened would block: the run's
// -timeout is the finding) and throw nothing but millrace::Error; what it lists must hold up:
// labels in range, files sorted within a class and regular, the ignored entries counted and
// named in order.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/image_codec.h"
#include "io/image_folder.h"

namespace fs = std::filesystem;
using millrace::io::ImageFolderDataset;

namespace {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t Byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::string Bytes(size_t n) {
    n = std::min(n, size_ - std::min(at_, size_));
    std::string out(reinterpret_cast<const char*>(data_ + at_), n);
    at_ += n;
    return out;
  }
  // A file name of 1-12 bytes: any byte but '/' and NUL, never "." or "..".
  std::string Name() {
    std::string name = Bytes(1 + Byte() % 12);
    for (char& c : name) {
      if (c == '/' || c == '\0') c = '_';
    }
    if (name.empty() || name == "." || name == "..") name = "n";
    return name;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

std::string Png(int height, int width) {
  millrace::Tensor image = millrace::Tensor::Zeros({1, height, width}, millrace::DType::kU8);
  const millrace::io::Bytes png = millrace::io::EncodePng(image);
  return {png.begin(), png.end()};
}

// Writes a regular file; never through an existing FIFO or link (opening a FIFO to write would
// block here, in the harness, not in the code under test).
void Write(const fs::path& path, const std::string& bytes) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (fs::exists(st) && !fs::is_regular_file(st)) return;
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

fs::path Scratch() {
  const char* tmp = std::getenv("TMPDIR");
  const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm")
                                                     : fs::path(tmp != nullptr ? tmp : "/tmp");
  return base / ("millrace-fuzz-tree-" + std::to_string(::getpid()));
}

void Build(Input& in, const fs::path& root) {
  static const std::string kPng = Png(4, 3), kOtherPng = Png(5, 3);
  static const char* const kClasses[] = {"a", "b", "c d", "\xc3\xa9t\xc3\xa9"};
  static const char* const kExtensions[] = {".png", ".jpg", ".JPEG", ".txt", "", ".Png"};
  std::error_code ec;
  for (int entry = 0; entry < 32 && !in.empty(); ++entry) {
    const uint8_t op = in.Byte() % 9;
    const uint8_t which = in.Byte();
    const fs::path cls = root / (which % 5 == 4 ? in.Name() : kClasses[which % 4]);
    const std::string name = in.Name() + kExtensions[in.Byte() % 6];
    if (op != 3) fs::create_directories(cls, ec);
    switch (op) {
      case 0:  // a class folder alone
        break;
      case 1:  // a nested folder, maybe with an image
        fs::create_directories(cls / name, ec);
        if (in.Byte() % 2 == 0) Write(cls / name / "x.png", kPng);
        break;
      case 2: {  // an image: valid, of another size, or fuzzed bytes
        const uint8_t kind = in.Byte() % 3;
        Write(cls / name, kind == 0 ? kPng : kind == 1 ? kOtherPng : in.Bytes(in.Byte() * 4u));
        break;
      }
      case 3:  // a file beside the class folders
        Write(root / name, in.Bytes(in.Byte() % 16));
        break;
      case 4:  // a FIFO, named like an image or not
        ::mkfifo((cls / name).c_str(), 0600);
        break;
      case 5: {  // a symbolic link
        const uint8_t to = in.Byte() % 4;
        const fs::path target = to == 0   ? root / "absent.png"
                                : to == 1 ? cls / "target.png"
                                : to == 2 ? cls
                                          : cls / name;  // itself: a loop
        if (to == 1) Write(target, kPng);
        fs::create_symlink(target, cls / name, ec);
        break;
      }
      case 6:  // an empty file
        Write(cls / name, "");
        break;
      case 7:  // an image in a nested folder
        fs::create_directories(cls / "sub", ec);
        Write(cls / "sub" / name, kPng);
        break;
      default:  // an image three folders down
        fs::create_directories(cls / "x" / "y", ec);
        Write(cls / "x" / "y" / name, kPng);
        break;
    }
  }
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Scan(const fs::path& root) {
  try {
    const ImageFolderDataset tree(root.string());
    Check(tree.size() > 0 && tree.num_classes() > 0);
    for (int64_t i = 0; i < tree.size(); ++i) {
      const ImageFolderDataset::File& f = tree.file(i);
      Check(f.label >= 0 && f.label < tree.num_classes());
      Check(fs::is_regular_file(f.path));
      if (i > 0 && tree.file(i - 1).label == f.label) Check(tree.file(i - 1).path < f.path);
      try {
        (void)tree.Read(i);  // the file's bytes decoded: an Error for a bad one
      } catch (const millrace::Error&) {
      }
    }
    const millrace::io::IgnoredEntries& ignored = tree.ignored();
    Check(ignored.count >= static_cast<int64_t>(ignored.first.size()));
    Check(ignored.first.size() <= millrace::io::IgnoredEntries::kKept);
    Check(std::is_sorted(ignored.first.begin(), ignored.first.end()));
    Check(ignored.Note(tree.root()).empty() == (ignored.count == 0));
  } catch (const millrace::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path root = Scratch();
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root);
  Input in(data, size);
  Build(in, root);
  Scan(root);
  fs::remove_all(root, ec);
  return 0;
}
