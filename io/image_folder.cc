#include "io/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <set>

#include "core/error.h"

namespace millrace::io {
namespace fs = std::filesystem;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// What an entry that is not a regular file is, for the report of ignored entries ("" for a
// regular file). From its status (stat), never by opening it.
std::string KindOf(const fs::directory_entry& entry) {
  std::error_code ec;
  const fs::file_status st = entry.status(ec);
  switch (st.type()) {
    case fs::file_type::regular: return "";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    case fs::file_type::block:
    case fs::file_type::character: return "a device";
    case fs::file_type::not_found: return "a broken link";
    default: return "not a regular file";
  }
}

// Keeps the count and the IgnoredEntries::kKept smallest paths.
class IgnoredList {
 public:
  void Add(const fs::path& root, const fs::directory_entry& entry, const std::string& kind) {
    ++count_;
    std::string path = entry.path().lexically_relative(root).string();
    if (!kind.empty()) path += " (" + kind + ")";
    first_.insert(std::move(path));
    if (first_.size() > IgnoredEntries::kKept) first_.erase(std::prev(first_.end()));
  }
  IgnoredEntries Take() const { return {count_, {first_.begin(), first_.end()}}; }

 private:
  int64_t count_ = 0;
  std::set<std::string> first_;
};

}  // namespace

std::string IgnoredEntries::Note(const std::string& root) const {
  if (count == 0) return {};
  std::string text = std::to_string(count) + (count == 1 ? " entry" : " entries") + " under " +
                     root + (count == 1 ? " is" : " are") + " not an image and " +
                     (count == 1 ? "was" : "were") + " ignored: ";
  for (size_t i = 0; i < first.size(); ++i) text += (i > 0 ? ", " : "") + first[i];
  if (count > static_cast<int64_t>(first.size())) text += ", ...";
  return text;
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, ImageFolderOptions options)
    : root_(root), options_(std::move(options)) {
  for (auto& ext : options_.extensions) ext = Lower(ext);
  std::error_code ec;
  if (!fs::is_directory(root_, ec))
    throw Error(ErrorKind::kIo, "not a directory" + (ec ? ": " + ec.message() : std::string()))
        .WithFile(root_);
  IgnoredList ignored;
  std::vector<fs::path> class_dirs;
  for (const fs::directory_entry& entry : fs::directory_iterator(root_, ec)) {
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) {
      class_dirs.push_back(entry.path());
    } else {
      ignored.Add(root_, entry, KindOf(entry));  // a file beside the class folders
    }
  }
  if (ec) throw Error(ErrorKind::kIo, "cannot list: " + ec.message()).WithFile(root_);
  std::sort(class_dirs.begin(), class_dirs.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  if (class_dirs.empty())
    throw DataError(root_, std::nullopt, "no class directories (expected root/<class>/<image>)");
  for (const fs::path& dir : class_dirs) {
    const int64_t label = static_cast<int64_t>(classes_.size());
    classes_.push_back(dir.filename().string());
    std::vector<File> files;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir, ec)) {
      std::error_code type_ec;
      if (entry.is_directory(type_ec)) continue;
      const std::string kind = entry.is_regular_file(type_ec) ? "" : KindOf(entry);
      const std::string ext = Lower(entry.path().extension().string());
      if (!kind.empty() || std::find(options_.extensions.begin(), options_.extensions.end(),
                                     ext) == options_.extensions.end()) {
        ignored.Add(root_, entry, kind);
        continue;
      }
      files.push_back({entry.path().string(), entry.file_size(), label});
    }
    if (ec) throw Error(ErrorKind::kIo, "cannot list: " + ec.message()).WithFile(dir.string());
    std::sort(files.begin(), files.end(),
              [](const File& a, const File& b) { return a.path < b.path; });
    files_.insert(files_.end(), std::make_move_iterator(files.begin()),
                  std::make_move_iterator(files.end()));
  }
  ignored_ = ignored.Take();
  if (files_.empty()) {
    throw DataError(root_, std::nullopt,
                    "no image files under the class directories" +
                        (ignored_.count > 0 ? "; " + ignored_.Note(root_) : std::string()));
  }
  for (size_t i = 0;; ++i) {
    try {
      ExpectShapeOf(ReadFileSync(files_[i].path), files_[i].path, options_.decode);
      break;
    } catch (const Error& e) {
      if (options_.policy == BadInputPolicy::kFail || e.kind() != ErrorKind::kData ||
          i + 1 == files_.size()) {
        throw;
      }
    }
  }
}

const ImageFolderDataset::File& ImageFolderDataset::file(int64_t index) const {
  MILLRACE_CHECK_ARG(index >= 0 && index < size(),
                     "record " << index << " out of range [0, " << size() << ")");
  return files_[static_cast<size_t>(index)];
}

std::optional<RecordLocation> ImageFolderDataset::Locate(int64_t index) const {
  const File& f = file(index);
  return RecordLocation{.range = {f.path, 0, f.bytes}, .label = f.label, .entry = {}};
}

Sample ImageFolderDataset::Decode(const EncodedRecord& record) const {
  return *DecodeRecord(record, options_.decode, BadInputPolicy::kFail);
}

Sample ImageFolderDataset::Read(int64_t index) const {
  const File& f = file(index);
  EncodedRecord record;
  try {
    record.bytes = ReadFileSync(f.path);
  } catch (const Error& e) {
    throw e.WithRecord(index);
  }
  record.label = f.label;
  record.index = index;
  record.source = f.path;
  return Decode(record);
}

ImageFolderStream::ImageFolderStream(const ImageFolderDataset& dataset, std::vector<int64_t> order,
                                     AsyncReader& reader, StreamOptions options)
    : dataset_(dataset), order_(std::move(order)), reader_(reader), options_(options) {
  MILLRACE_CHECK_ARG(options.prefetch_depth >= 1,
                     "prefetch depth must be >= 1, got " << options.prefetch_depth);
  MILLRACE_CHECK_ARG(options.group_files >= 1,
                     "group_files must be >= 1, got " << options.group_files);
  Issue();
}

void ImageFolderStream::Issue() {
  const int64_t count = static_cast<int64_t>(order_.size());
  const int64_t group = std::min(options_.group_files, options_.prefetch_depth);
  while (issued_ < count && files_in_flight_ < options_.prefetch_depth) {
    const int64_t n = std::min(group, count - issued_);
    std::vector<FileRange> ranges;
    ranges.reserve(static_cast<size_t>(n));
    for (int64_t i = issued_; i < issued_ + n; ++i) {
      const auto& f = dataset_.file(order_[static_cast<size_t>(i)]);
      ranges.push_back(FileRange{f.path, 0, f.bytes});
    }
    groups_.push_back(reader_.ReadGroup(std::move(ranges)));
    files_in_flight_ += n;
    issued_ += n;
  }
}

std::optional<EncodedRecord> ImageFolderStream::Next() {
  for (;;) {
    if (current_next_ >= current_.size()) {
      if (groups_.empty()) return std::nullopt;
      current_ = groups_.front().get();
      groups_.pop_front();
      current_next_ = 0;
      files_in_flight_ -= static_cast<int64_t>(current_.size());
      Issue();  // keep prefetch_depth reads in flight while the consumer works on this group
      continue;
    }
    const int64_t index = order_[static_cast<size_t>(position_++)];
    RangeResult& result = current_[current_next_++];
    const auto& f = dataset_.file(index);
    EncodedRecord record;
    try {
      record.bytes = result.Take();
    } catch (const Error& e) {
      HandleBadRecord(e.WithRecord(index), options_.policy, options_.skip_log);
      continue;
    }
    record.label = f.label;
    record.index = index;
    record.source = f.path;
    return record;
  }
}

}  // namespace millrace::io
