#include "io/record.h"

namespace millrace::io {

void SkipLog::Record(const Error& error) {
  count_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mutex_);
  if (messages_.size() < kKeptMessages) messages_.emplace_back(error.what());
}

void SkipLog::Restore(int64_t count, const std::vector<std::string>& messages) {
  count_.fetch_add(count, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& m : messages) {
    if (messages_.size() < kKeptMessages) messages_.push_back(m);
  }
}

std::vector<std::string> SkipLog::messages() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return messages_;
}

std::string SkipLog::Summary() const {
  const int64_t n = count();
  if (n == 0) return {};
  std::string text = std::to_string(n) + (n == 1 ? " record skipped" : " records skipped");
  std::lock_guard<std::mutex> lock(mutex_);
  if (!messages_.empty()) text += "; first: " + messages_.front();
  return text;
}

Error DataError(const std::string& file, std::optional<int64_t> record,
                const std::string& message) {
  Error error(ErrorKind::kData, message);
  if (!file.empty()) error = error.WithFile(file);
  if (record) error = error.WithRecord(*record);
  return error;
}

void HandleBadRecord(const Error& error, BadInputPolicy policy, SkipLog* log) {
  if (policy == BadInputPolicy::kFail) throw error;
  if (log) log->Record(error);
}

}  // namespace millrace::io
