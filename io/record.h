// The vocabulary shared by io/: a decoded Sample, an EncodedRecord (the bytes of one image as
// stored, before decoding), the policy for bad input, and the SkipLog that counts what a `skip`
// policy dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace millrace::io {

// One decoded example. image: u8 [C, H, W]; label in [0, num_classes); index: the record's
// stable index in its dataset (it seeds the per-sample augmentation).
struct Sample {
  Tensor image;
  int64_t label = -1;
  int64_t index = -1;
};

// One record as stored (e.g. JPEG or PNG bytes), before decoding. `source` names where it came
// from for error messages: a file path, or "shard.tar" with the tar entry in `entry`.
struct EncodedRecord {
  std::vector<uint8_t> bytes;
  int64_t label = -1;
  int64_t index = -1;
  std::string source;
  std::string entry;  // the tar entry name; empty for files
};

// A source of encoded records read in order (ImageFolderStream, TarShardStream): what an io stage
// pulls from. Next() returns nullopt at the end; one consumer thread.
class RecordStream {
 public:
  virtual ~RecordStream() = default;
  virtual std::optional<EncodedRecord> Next() = 0;
};

// What a reader does with a bad record (undecodable image, label out of range, tar entry
// without a label): throw an Error naming the file and the record, or skip it and count it.
enum class BadInputPolicy { kFail, kSkip };

// Counts skipped records and keeps the first few messages. Thread-safe.
class SkipLog {
 public:
  static constexpr size_t kKeptMessages = 8;

  void Record(const Error& error);
  // Counts `count` records skipped earlier (by the run a checkpoint resumes) and keeps
  // `messages`, those of the first of them, as Record would have.
  void Restore(int64_t count, const std::vector<std::string>& messages);
  int64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::vector<std::string> messages() const;
  // "3 records skipped; first: data error: a.png, record 4: ..." (empty when none).
  std::string Summary() const;

 private:
  std::atomic<int64_t> count_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

// An Error(kData) naming `file` and, when given, the record.
Error DataError(const std::string& file, std::optional<int64_t> record, const std::string& message);

// Either rethrows `error` (kFail) or records it in `log` (kSkip; log may be null then nothing is
// kept but the record is still dropped).
void HandleBadRecord(const Error& error, BadInputPolicy policy, SkipLog* log);

}  // namespace millrace::io
