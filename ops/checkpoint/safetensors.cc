#include "ops/checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace millrace::ops {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

Error IoError(const std::filesystem::path& path, const std::string& what) {
  return Error(ErrorKind::kIo, what + ": " + std::strerror(errno)).WithFile(path.string());
}
Error DataError(const std::filesystem::path& path, const std::string& what) {
  return Error(ErrorKind::kData, what).WithFile(path.string());
}

// A file descriptor that closes itself.
class File {
 public:
  File(const std::filesystem::path& path, int flags, mode_t mode = 0)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {}
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

void WriteAll(int fd, const void* data, size_t size, const std::filesystem::path& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError(path, "write failed");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

// Reads exactly `size` bytes at `offset`; false at end of file.
bool ReadAt(int fd, void* data, size_t size, uint64_t offset, const std::filesystem::path& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(path, "read failed");
    if (n == 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

std::string SafetensorsDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kU8: return "U8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kF64: return "F64";
  }
  MILLRACE_THROW(ErrorKind::kInternal, "safetensors: unknown DType " << static_cast<int>(dtype));
}

DType ParseSafetensorsDType(const std::string& name) {
  if (name == "F32") return DType::kF32;
  if (name == "BF16") return DType::kBF16;
  if (name == "U8") return DType::kU8;
  if (name == "I32") return DType::kI32;
  if (name == "I64") return DType::kI64;
  if (name == "F64") return DType::kF64;
  MILLRACE_THROW(ErrorKind::kData, "unknown or unsupported dtype '"
                                       << name << "' (millrace reads F32, F64, BF16, U8, I32, I64)");
}

const Tensor* SafetensorsContents::Find(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

void WriteSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, const Tensor*>> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, t] = sorted[i];
    MILLRACE_CHECK_ARG(!name.empty() && name != "__metadata__",
                       "safetensors " << path.string() << ": bad tensor name '" << name << "'");
    MILLRACE_CHECK_ARG(i == 0 || sorted[i - 1].first != name,
                       "safetensors " << path.string() << ": tensor '" << name << "' twice");
    MILLRACE_CHECK_ARG(t != nullptr && t->defined() && t->device().is_cpu(),
                       "safetensors " << path.string() << ": tensor '" << name
                                      << "' must be a defined CPU tensor");
    header[name] = {{"dtype", SafetensorsDTypeName(t->dtype())},
                    {"shape", t->shape()},
                    {"data_offsets", {offset, offset + t->nbytes()}}};
    offset += t->nbytes();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');  // the data starts 8-aligned
  unsigned char length[8];
  for (int b = 0; b < 8; ++b) length[b] = static_cast<unsigned char>(text.size() >> (8 * b));

  const std::filesystem::path tmp =
      path.string() + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  {
    File file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!file.ok()) throw IoError(tmp, "cannot create the temporary checkpoint file");
    try {
      WriteAll(file.fd(), length, 8, tmp);
      WriteAll(file.fd(), text.data(), text.size(), tmp);
      for (const auto& [name, t] : sorted) WriteAll(file.fd(), t->raw_data(), t->nbytes(), tmp);
      if (::fsync(file.fd()) != 0) throw IoError(tmp, "fsync failed");
      if (file.Close() != 0) throw IoError(tmp, "close failed");
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = IoError(path, "cannot rename " + tmp.string() + " over it");
    ::unlink(tmp.c_str());
    throw e;
  }
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  File directory(dir, O_RDONLY | O_DIRECTORY);
  if (!directory.ok() || ::fsync(directory.fd()) != 0) {
    throw IoError(dir, "cannot fsync the checkpoint's directory");
  }
}

SafetensorsContents ReadSafetensors(const std::filesystem::path& path) {
  File file(path, O_RDONLY);
  if (!file.ok()) throw IoError(path, "cannot open the checkpoint");
  struct stat st;
  if (::fstat(file.fd(), &st) != 0) throw IoError(path, "cannot stat the checkpoint");
  const auto file_size = static_cast<uint64_t>(st.st_size);

  unsigned char length[8];
  if (file_size < 8 || !ReadAt(file.fd(), length, 8, 0, path)) {
    throw DataError(path, "truncated: " + std::to_string(file_size) +
                              " bytes, shorter than the 8-byte header length");
  }
  uint64_t header_size = 0;
  for (int b = 7; b >= 0; --b) header_size = (header_size << 8) | length[b];
  if (header_size > kMaxHeaderBytes) {
    throw DataError(path, "header length " + std::to_string(header_size) +
                              " is over the limit of 100 MB: not a safetensors file");
  }
  if (8 + header_size > file_size) {
    throw DataError(path, "truncated: the header says " + std::to_string(header_size) +
                              " bytes, the file has " + std::to_string(file_size - 8) +
                              " after the length");
  }
  std::string text(header_size, '\0');
  ReadAt(file.fd(), text.data(), header_size, 8, path);
  if (header_size == 0 || text[0] != '{') {
    throw DataError(path, "the header does not start with '{': not a safetensors file");
  }
  // The specification forbids duplicate tensor names; nlohmann would keep the last silently.
  std::set<std::string> names;
  std::string duplicate;
  auto check_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key &&
        !names.insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, check_keys);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path, std::string("malformed JSON header: ") + e.what());
  }
  if (!duplicate.empty()) throw DataError(path, "tensor '" + duplicate + "' is listed twice");
  if (!header.is_object()) throw DataError(path, "the header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_size;
  SafetensorsContents out;
  struct Entry {
    uint64_t begin, end;
    std::string name;
    DType dtype;
    Shape shape;
  };
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw DataError(path, "__metadata__ is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) {
          throw DataError(path, "__metadata__ value of '" + key + "' is not a string");
        }
        out.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string& entry_name = name;  // (clang 14 can't capture a structured binding)
    auto bad = [&](const std::string& why) {
      return DataError(path, "tensor '" + entry_name + "': " + why);
    };
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
        !info.contains("data_offsets")) {
      throw bad("needs dtype, shape and data_offsets");
    }
    if (!info["dtype"].is_string()) throw bad("dtype is not a string");
    Entry e;
    e.name = name;
    try {
      e.dtype = ParseSafetensorsDType(info["dtype"].get<std::string>());
    } catch (const Error& error) {
      throw bad(error.message());
    }
    const auto& shape = info["shape"];
    if (!shape.is_array()) throw bad("shape is not an array");
    // Checked arithmetic: [2^32, 2^32] of F32 must not wrap around to a small byte count.
    uint64_t expected = SizeOf(e.dtype);
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw bad("shape " + shape.dump() + " is not of sizes >= 0");
      const auto size = d.get<uint64_t>();
      if (size > static_cast<uint64_t>(INT64_MAX) ||
          __builtin_mul_overflow(expected, size, &expected) || expected > file_size) {
        throw bad("shape " + shape.dump() + " needs more bytes than the file's " +
                  std::to_string(file_size));
      }
      e.shape.push_back(static_cast<int64_t>(size));
    }
    const auto& offsets = info["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      throw bad("data_offsets " + offsets.dump() + " is not [begin, end]");
    }
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    if (e.end < e.begin || e.end - e.begin != expected) {
      throw bad("data_offsets " + offsets.dump() + " span " + std::to_string(e.end - e.begin) +
                " bytes, its dtype and shape " + ToString(e.shape) + " need " +
                std::to_string(expected));
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const Entry& e : entries) {
    if (e.begin != covered) {
      throw DataError(path, "tensor '" + e.name + "' starts at " + std::to_string(e.begin) +
                                ", expected " + std::to_string(covered) +
                                ": the data has a gap or an overlap");
    }
    covered = e.end;
  }
  if (covered > data_size) {
    throw DataError(path, "truncated: the tensors need " + std::to_string(covered) +
                              " bytes of data, the file has " + std::to_string(data_size));
  }
  if (covered < data_size) {
    throw DataError(path, std::to_string(data_size - covered) +
                              " bytes after the last tensor: not covered by the header");
  }
  for (Entry& e : entries) {
    Tensor t = Tensor::Empty(e.shape, e.dtype);
    if (!ReadAt(file.fd(), t.raw_data(), t.nbytes(), 8 + header_size + e.begin, path)) {
      throw DataError(path, "truncated while reading tensor '" + e.name + "'");
    }
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

}  // namespace millrace::ops
