#include "io/tar_format.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <filesystem>
#include <memory>
#include <string_view>

#include "core/error.h"

namespace millrace::io {
namespace {

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// KEY and extension (lower case) of a tar path, by the first '.' of its file name.
std::pair<std::string_view, std::string> SplitKey(std::string_view path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.find('.', slash == std::string_view::npos ? 0 : slash + 1);
  if (dot == std::string_view::npos) return {path, ""};
  std::string ext(path.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return {path.substr(0, dot), std::move(ext)};
}

bool IsImageExtension(const std::string& ext) {
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

// A sample being assembled from consecutive entries with one key.
struct Group {
  std::string key;
  std::string image_entry;
  Bytes image;
  uint64_t image_offset = 0;  // where the image's bytes start in the shard (index mode)
  uint64_t image_size = 0;
  bool has_image = false;
  std::string label_entry;
  std::string label_text;
  bool has_label = false;

  void Clear() {  // keeps the strings' storage
    key.clear();
    image_entry.clear();
    image = Bytes();
    image_offset = 0;
    image_size = 0;
    has_image = false;
    label_entry.clear();
    label_text.clear();
    has_label = false;
  }
};

// Where libarchive's read callback gets its bytes: a caller's function, whose exception (an
// Error(kIo) from the reader) is kept here and rethrown once libarchive has returned.
struct CallbackSource {
  const std::function<std::span<const uint8_t>()>* read;
  std::exception_ptr error;

  static la_ssize_t Read(archive*, void* self, const void** buffer) {
    auto* source = static_cast<CallbackSource*>(self);
    try {
      const std::span<const uint8_t> piece = (*source->read)();
      *buffer = piece.data();
      return static_cast<la_ssize_t>(piece.size());
    } catch (...) {  // never let an exception unwind through libarchive's C frames
      source->error = std::current_exception();
      return ARCHIVE_FATAL;
    }
  }
};

class ShardParser {
 public:
  ShardParser(const std::string& name, int64_t shard_id, const TarParseOptions& options,
              const std::function<void(EncodedRecord&&)>& emit)
      : name_(name), shard_id_(shard_id), options_(options), emit_(emit) {}
  // Index mode: members (where the images lie) instead of records; images are not read.
  ShardParser(const std::string& name, int64_t shard_id, const TarParseOptions& options,
              const std::function<void(TarMember&&)>& emit_member)
      : name_(name),
        shard_id_(shard_id),
        options_(options),
        emit_(no_records_),
        emit_member_(&emit_member) {}

  void ParseFile() {
    std::unique_ptr<archive, ArchiveReadDeleter> a(NewReader());
    // libarchive reads the file itself and seeks past the entries that are not read.
    if (archive_read_open_filename(a.get(), name_.c_str(), 64 * 1024) != ARCHIVE_OK) {
      const char* why = archive_error_string(a.get());
      throw Error(ErrorKind::kIo, std::string("cannot open tar shard: ") + (why ? why : "?"))
          .WithFile(name_);
    }
    Parse(a.get(), nullptr);
  }

  void ParseMemory(std::span<const uint8_t> bytes) {
    std::unique_ptr<archive, ArchiveReadDeleter> a(NewReader());
    if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
      Bad(std::nullopt, "", std::string("not a tar archive: ") + archive_error_string(a.get()));
      return;
    }
    Parse(a.get(), nullptr);
  }

  void ParseStream(const std::function<std::span<const uint8_t>()>& read) {
    std::unique_ptr<archive, ArchiveReadDeleter> a(NewReader());
    CallbackSource source{&read, nullptr};
    if (archive_read_open(a.get(), &source, nullptr, &CallbackSource::Read, nullptr) !=
        ARCHIVE_OK) {
      if (source.error) std::rethrow_exception(source.error);
      Bad(std::nullopt, "", std::string("not a tar archive: ") + archive_error_string(a.get()));
      return;
    }
    Parse(a.get(), &source);
  }

 private:
  static archive* NewReader() {
    archive* a = archive_read_new();
    if (!a) MILLRACE_THROW(ErrorKind::kInternal, "archive_read_new failed");
    archive_read_support_format_tar(a);
    return a;
  }

  void Parse(archive* a, CallbackSource* source) {
    // An I/O error of the source, as it surfaced through libarchive.
    auto rethrow_source_error = [&] {
      if (source && source->error) {
        group_.Clear();
        std::rethrow_exception(source->error);
      }
    };
    for (;;) {
      archive_entry* entry = nullptr;
      const int rc = archive_read_next_header(a, &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        rethrow_source_error();
        const char* why = archive_error_string(a);
        // A sample still waiting for its other half may have lost it to the damage: the damage
        // is reported, not a missing label.
        if (group_.has_image && group_.has_label) Flush();
        group_.Clear();
        Bad(Next(), "",
            std::string("corrupt tar archive after ") + std::to_string(entries_) +
                " entries: " + (why ? why : "unknown error"));
        return;
      }
      ++entries_;
      if (archive_entry_filetype(entry) != AE_IFREG) continue;
      const char* raw_path = archive_entry_pathname(entry);
      const std::string_view path = raw_path ? raw_path : "";
      auto [key, ext] = SplitKey(path);
      const bool image = IsImageExtension(ext);
      if (!image && ext != "cls") continue;
      if (key != group_.key) {
        Flush();
        group_.key.assign(key);
      }
      const la_int64_t size = archive_entry_size(entry);
      if (size < 0 || static_cast<uint64_t>(size) > options_.max_entry_bytes) {
        Bad(Next(), std::string(path), "entry of " + std::to_string(size) + " bytes refused");
        group_.Clear();
        continue;
      }
      if (image && emit_member_ != nullptr) {
        // Index mode: the data starts where libarchive stands after the header (the tar reader
        // consumes headers, pax extensions included, before handing over an entry's data).
        group_.image_entry.assign(path);
        group_.image_offset = static_cast<uint64_t>(archive_filter_bytes(a, 0));
        group_.image_size = static_cast<uint64_t>(size);
        group_.has_image = true;
        continue;  // the next header seeks past the image
      }
      // The entry's bytes go straight into the record's buffer (the image) or the label text,
      // which grows by what was read (doubling from 64 KiB): a header that claims more than
      // the shard holds costs at most twice what is really there, never the claimed size.
      const size_t want = static_cast<size_t>(size);
      Bytes data;
      std::string text;
      const size_t got = ReadEntry(a, want, image ? &data : nullptr, &text);
      if (got != want) {
        group_.Clear();
        rethrow_source_error();
        const char* why = archive_error_string(a);
        Bad(Next(), std::string(path),
            "tar entry cut off after " + std::to_string(got) + " of " + std::to_string(want) +
                " bytes" + (why ? std::string(": ") + why : std::string()));
        return;
      }
      if (image) {
        group_.image_entry.assign(path);
        group_.image = std::move(data);
        group_.has_image = true;
      } else {
        group_.label_entry.assign(path);
        group_.label_text = std::move(text);
        group_.has_label = true;
      }
    }
    rethrow_source_error();
    Flush();
  }

  // Reads the current entry's data (up to `want` bytes) into `bytes` (or `text` when bytes is
  // null), growing the buffer by what arrived. Returns the bytes read.
  static size_t ReadEntry(archive* a, size_t want, Bytes* bytes, std::string* text) {
    size_t got = 0;
    auto grow = [&](size_t n) {
      if (bytes != nullptr) {
        bytes->resize(n);
        return bytes->data();
      }
      text->resize(n);
      return reinterpret_cast<uint8_t*>(text->data());
    };
    uint8_t* into = grow(std::min(want, size_t{1} << 16));
    size_t have = std::min(want, size_t{1} << 16);
    while (got < want) {
      if (got == have) {
        have = std::min(want, 2 * have);
        into = grow(have);
      }
      const la_ssize_t n = archive_read_data(a, into + got, have - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    grow(got);
    return got;
  }

  int64_t Next() const { return (shard_id_ << 32) | ordinal_; }

  void Bad(std::optional<int64_t> record, const std::string& entry, const std::string& message) {
    const std::string where = entry.empty() ? name_ : name_ + " [entry " + entry + "]";
    HandleBadRecord(DataError(where, record, message), options_.policy, options_.skip_log);
  }

  // Ends the current group: a record when it has an image and a valid label.
  void Flush() {
    if (!group_.has_image && !group_.has_label) {
      group_.Clear();
      return;
    }
    const int64_t record = Next();
    ++ordinal_;
    Group& g = group_;
    struct ClearAtExit {
      Group& g;
      ~ClearAtExit() { g.Clear(); }
    } clear{g};
    if (!g.has_label) {
      Bad(record, g.image_entry, "tar entry without a label (no " + g.key + ".cls)");
      return;
    }
    if (!g.has_image) {
      Bad(record, g.label_entry, "label without an image (no " + g.key + ".jpg/.png)");
      return;
    }
    std::string_view text = g.label_text;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
      text.remove_suffix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
      text.remove_prefix(1);
    int64_t label = -1;
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(first, last, label);
    if (ec != std::errc() || end != last || first == last) {
      Bad(record, g.label_entry,
          "label '" + std::string(text.substr(0, 32)) + "' is not an integer");
      return;
    }
    if (label < 0 || (options_.num_classes > 0 && label >= options_.num_classes)) {
      Bad(record, g.label_entry,
          "label " + std::to_string(label) + " out of range [0, " +
              (options_.num_classes > 0 ? std::to_string(options_.num_classes) : "inf") + ")");
      return;
    }
    if (emit_member_ != nullptr) {
      (*emit_member_)(TarMember{.index = record,
                                .offset = g.image_offset,
                                .size = g.image_size,
                                .label = label,
                                .entry = g.image_entry});
      return;
    }
    EncodedRecord r;
    r.bytes = std::move(g.image);
    r.label = label;
    r.index = record;
    r.source = name_;
    r.entry = g.image_entry;
    emit_(std::move(r));
  }

  const std::string& name_;
  int64_t shard_id_;
  const TarParseOptions& options_;
  const std::function<void(EncodedRecord&&)> no_records_;
  const std::function<void(EncodedRecord&&)>& emit_;
  const std::function<void(TarMember&&)>* emit_member_ = nullptr;
  Group group_;
  int64_t ordinal_ = 0;
  int64_t entries_ = 0;
};

}  // namespace

std::string TarHeaderName(std::span<const uint8_t> header) {
  std::unique_ptr<archive, ArchiveReadDeleter> a(archive_read_new());
  if (!a) return {};
  archive_read_support_format_tar(a.get());
  archive_entry* entry = nullptr;
  if (archive_read_open_memory(a.get(), header.data(), header.size()) != ARCHIVE_OK ||
      archive_read_next_header(a.get(), &entry) < ARCHIVE_WARN) {
    return {};
  }
  const char* path = archive_entry_pathname(entry);
  return path ? path : "";
}

std::vector<EncodedRecord> ParseTarShard(std::span<const uint8_t> bytes, const std::string& name,
                                         int64_t shard_id, const TarParseOptions& options) {
  std::vector<EncodedRecord> records;
  const std::function<void(EncodedRecord &&)> emit = [&](EncodedRecord&& r) {
    records.push_back(std::move(r));
  };
  ShardParser(name, shard_id, options, emit).ParseMemory(bytes);
  return records;
}

void ParseTarShard(const std::function<std::span<const uint8_t>()>& read, const std::string& name,
                   int64_t shard_id, const TarParseOptions& options,
                   const std::function<void(EncodedRecord&&)>& emit) {
  ShardParser(name, shard_id, options, emit).ParseStream(read);
}

void IndexTarShard(const std::string& path, int64_t shard_id, const TarParseOptions& options,
                   const std::function<void(TarMember&&)>& emit) {
  ShardParser(path, shard_id, options, emit).ParseFile();
}

std::vector<std::string> ListTarShards(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> shards;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".tar")
      shards.push_back(entry.path().string());
  }
  if (ec) throw Error(ErrorKind::kIo, "cannot list: " + ec.message()).WithFile(dir);
  std::sort(shards.begin(), shards.end());
  return shards;
}

void WriteTar(const std::string& path, const std::vector<std::pair<std::string, Bytes>>& entries) {
  const std::string temp = path + ".partial";
  std::unique_ptr<archive, ArchiveWriteDeleter> a(archive_write_new());
  if (!a) MILLRACE_THROW(ErrorKind::kInternal, "archive_write_new failed");
  archive_write_set_format_pax_restricted(a.get());
  auto fail = [&](const std::string& what) {
    const char* why = archive_error_string(a.get());
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    throw Error(ErrorKind::kIo, what + (why ? std::string(": ") + why : std::string()))
        .WithFile(path);
  };
  if (archive_write_open_filename(a.get(), temp.c_str()) != ARCHIVE_OK) fail("cannot create");
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  for (const auto& [name, bytes] : entries) {
    archive_entry_clear(entry.get());
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_mtime(entry.get(), 0, 0);  // reproducible archives
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK)
      fail("cannot write entry " + name);
    if (archive_write_data(a.get(), bytes.data(), bytes.size()) !=
        static_cast<la_ssize_t>(bytes.size()))
      fail("cannot write entry " + name);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) fail("cannot finish");
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) fail("cannot rename " + temp + ": " + ec.message());
}

}  // namespace millrace::io
