// millrace::Error: the one exception type of the project. It carries a kind, and where they
// apply the stage, the file and the record that the error is about, so that a message reads
// "stage 'read': data error: train-images.gz, record 17: truncated gzip stream".
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace millrace {

enum class ErrorKind {
  kInvalidArgument,  // the caller asked for something that can't be (bad shape, bad option)
  kData,             // the input data is wrong (corrupt file, label out of range)
  kIo,               // the operating system refused (open, read, write)
  kCuda,             // CUDA runtime, cuDNN or cuBLAS
  kOneDnn,           // oneDNN
  kCancelled,        // the graph was cancelled
  kInternal,         // a bug in millrace
};

std::string_view ToString(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  explicit Error(ErrorKind kind, std::string message);

  ErrorKind kind() const noexcept { return kind_; }
  // The message without the stage/file/record prefix.
  const std::string& message() const noexcept { return message_; }
  const std::string& stage() const noexcept { return stage_; }
  const std::string& file() const noexcept { return file_; }
  std::optional<int64_t> record() const noexcept { return record_; }

  // Copies of this error with more context; the what() text is rebuilt.
  Error WithStage(std::string stage) const;
  Error WithFile(std::string file) const;
  Error WithRecord(int64_t record) const;

 private:
  Error(ErrorKind kind, std::string message, std::string stage, std::string file,
        std::optional<int64_t> record);
  static std::string Compose(ErrorKind kind, const std::string& message, const std::string& stage,
                             const std::string& file, std::optional<int64_t> record);

  ErrorKind kind_;
  std::string message_;
  std::string stage_;
  std::string file_;
  std::optional<int64_t> record_;
};

}  // namespace millrace

// MILLRACE_THROW(kind, stream-expression): throws millrace::Error with a message built by <<.
//   MILLRACE_THROW(ErrorKind::kInvalidArgument, "batch size must be > 0, got " << n);
#define MILLRACE_THROW(kind, message_expr)                                  \
  do {                                                                      \
    std::ostringstream millrace_message_stream_;                            \
    millrace_message_stream_ << message_expr;                               \
    throw ::millrace::Error((kind), millrace_message_stream_.str());        \
  } while (0)

// MILLRACE_CHECK(cond, kind, stream-expression): throws when cond is false.
#define MILLRACE_CHECK(cond, kind, message_expr) \
  do {                                           \
    if (!(cond)) {                               \
      MILLRACE_THROW(kind, message_expr);        \
    }                                            \
  } while (0)

// The common case: a caller's argument is wrong.
#define MILLRACE_CHECK_ARG(cond, message_expr) \
  MILLRACE_CHECK(cond, ::millrace::ErrorKind::kInvalidArgument, message_expr)
