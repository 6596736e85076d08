// RecordReader: the encoded records of an IndexedDataset in an order given one index at a time,
// read ahead through an AsyncReader with at most `prefetch_depth` reads in flight. What an io
// stage pulls from: the bytes travel on, and decoding (IndexedDataset::Decode) happens on a cpu
// stage.
//
//   AsyncReader reader;                                   // io_uring, or the pread pool
//   RecordReader records(tree, [&]() -> std::optional<int64_t> { ... }, reader,
//                        {.prefetch_depth = 64});
//   while (auto record = records.Next())                  // io: bytes, in the order given
//     Sample s = tree.Decode(*record);                    // cpu: decode
//
// Records that the dataset holds in memory (Locate gives nullopt: IDX) are not read: they come
// back without bytes, and Decode copies them out of memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "io/async_reader.h"
#include "io/dataset.h"
#include "io/record.h"

namespace millrace::io {

struct RecordReaderOptions {
  // Records read ahead of the consumer: reads issued and not yet handed out (>= 1).
  int prefetch_depth = 64;
};

class RecordReader {
 public:
  // The next index of the order, or nullopt at its end. Called on the consumer's thread (from
  // the constructor and from Next), up to prefetch_depth indices ahead of the records handed out.
  using NextIndex = std::function<std::optional<int64_t>()>;

  // `dataset` and `reader` must outlive this. Starts the first reads.
  RecordReader(const IndexedDataset& dataset, NextIndex next_index, AsyncReader& reader,
               RecordReaderOptions options = {});
  // Waits for the reads in flight (their bytes are dropped).
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // The next record of the order (bytes, label, index, source and entry), or nullopt at the end.
  // Blocks until its read completes. Throws the read's Error(kIo) naming the file and the record
  // (a missing, short or unreadable file). One consumer thread.
  std::optional<EncodedRecord> Next();

  // Reads issued and not yet handed out, now and at most so far (never above prefetch_depth).
  // Any thread.
  int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  int64_t max_in_flight() const noexcept { return max_in_flight_.load(std::memory_order_relaxed); }
  // Records handed out so far.
  int64_t records() const noexcept { return handed_out_; }

 private:
  // Up to kGroupSize reads handed to the AsyncReader as one ReadGroup: one hand-off and one
  // future for the lot (a record's read costs ~10 us of syscalls; a future and a thread hop each
  // would cost more). Several groups are in flight at once, on the reader's pool threads.
  struct Group {
    std::future<std::vector<RangeResult>> future;
    std::vector<RangeResult> results;  // once the future has been waited for
    std::vector<RangeResult>& Get() {
      if (future.valid()) results = future.get();
      return results;
    }
  };
  static constexpr size_t kGroupSize = 8;
  struct Pending {
    int64_t index = -1;
    std::optional<RecordLocation> where;  // nullopt: held in memory, nothing read
    std::shared_ptr<Group> group;         // where its read is
    size_t slot = 0;                      // its place in the group
  };
  // Issues reads until prefetch_depth are in flight or the order ends, in groups.
  void Issue();

  const IndexedDataset& dataset_;
  NextIndex next_index_;
  AsyncReader& reader_;
  RecordReaderOptions options_;
  std::deque<Pending> pending_;  // in the order given
  bool order_done_ = false;
  int64_t handed_out_ = 0;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> max_in_flight_{0};
};

}  // namespace millrace::io
