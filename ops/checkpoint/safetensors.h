// The safetensors file format (https://github.com/huggingface/safetensors), read and written
// exactly per its specification:
//   8 bytes    N, the header's length, unsigned little-endian
//   N bytes    a JSON object: {"<tensor name>": {"dtype": "F32", "shape": [500, 784],
//              "data_offsets": [begin, end]}, ..., "__metadata__": {"<key>": "<string>"}},
//              padded at the end with spaces (millrace pads so that the data starts 8-aligned)
//   the data   every tensor's bytes, little-endian, row-major; offsets are relative to the
//              start of this buffer, and the tensors cover it exactly, with no gaps or overlaps
// Dtypes: F32, BF16, U8, I32, I64 (millrace's; others, such as F16, are refused by name).
// Files are readable by the safetensors library and so by PyTorch (safetensors.torch.load_file).
//
// Writing is atomic: a temporary file in the same directory, written, fsynced, renamed over
// the target, then the directory fsynced; a crash leaves the old file or the new one, never a
// torn one. Errors are millrace::Error naming the file: kIo for the operating system, kData for
// a malformed, truncated or unsupported file. Functions are thread-safe for distinct files.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace millrace::ops {

struct SafetensorsContents {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in the order of their data offsets
  std::map<std::string, std::string> metadata;          // "__metadata__" (empty if absent)

  const Tensor* Find(const std::string& name) const;  // nullptr when absent
};

// Writes CPU tensors (names unique, non-empty, not "__metadata__"); the data is laid out in
// name order.
void WriteSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and verifies a whole file: header length and JSON, each entry's dtype, shape and
// offsets, the offsets contiguous and covering the data exactly, the file's size. A file
// shorter than its header says throws "truncated"; an unknown dtype throws naming it.
SafetensorsContents ReadSafetensors(const std::filesystem::path& path);

// "F32" <-> DType::kF32 and so on; ParseSafetensorsDType throws Error(kData) naming the dtype.
std::string SafetensorsDTypeName(DType dtype);
DType ParseSafetensorsDType(const std::string& name);

}  // namespace millrace::ops
