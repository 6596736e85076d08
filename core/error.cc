#include "core/error.h"

#include <utility>

namespace millrace {

std::string_view ToString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kData: return "data error";
    case ErrorKind::kIo: return "I/O error";
    case ErrorKind::kCuda: return "CUDA error";
    case ErrorKind::kOneDnn: return "oneDNN error";
    case ErrorKind::kCancelled: return "cancelled";
    case ErrorKind::kInternal: return "internal error";
  }
  return "error";
}

Error::Error(ErrorKind kind, std::string message)
    : Error(kind, std::move(message), {}, {}, std::nullopt) {}

Error::Error(ErrorKind kind, std::string message, std::string stage, std::string file,
             std::optional<int64_t> record)
    : std::runtime_error(Compose(kind, message, stage, file, record)),
      kind_(kind),
      message_(std::move(message)),
      stage_(std::move(stage)),
      file_(std::move(file)),
      record_(record) {}

Error Error::WithStage(std::string stage) const {
  return Error(kind_, message_, std::move(stage), file_, record_);
}
Error Error::WithFile(std::string file) const {
  return Error(kind_, message_, stage_, std::move(file), record_);
}
Error Error::WithRecord(int64_t record) const {
  return Error(kind_, message_, stage_, file_, record);
}

std::string Error::Compose(ErrorKind kind, const std::string& message, const std::string& stage,
                           const std::string& file, std::optional<int64_t> record) {
  std::string text;
  if (!stage.empty()) text += "stage '" + stage + "': ";
  text += ToString(kind);
  text += ": ";
  if (!file.empty()) text += file;
  if (record) text += (file.empty() ? "record " : ", record ") + std::to_string(*record);
  if (!file.empty() || record) text += ": ";
  text += message;
  return text;
}

}  // namespace millrace
