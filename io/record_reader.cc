#include "io/record_reader.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/error.h"

namespace millrace::io {

RecordReader::RecordReader(const IndexedDataset& dataset, NextIndex next_index, AsyncReader& reader,
                           RecordReaderOptions options)
    : dataset_(dataset), next_index_(std::move(next_index)), reader_(reader), options_(options) {
  MILLRACE_CHECK_ARG(options.prefetch_depth >= 1,
                     "prefetch depth must be >= 1, got " << options.prefetch_depth);
  Issue();
}

RecordReader::~RecordReader() {
  for (Pending& p : pending_)
    if (p.group && p.group->future.valid()) p.group->future.wait();
}

void RecordReader::Issue() {
  const auto depth = static_cast<size_t>(options_.prefetch_depth);
  // Top up in batches (once at most half the depth is in flight) so that the io thread is
  // handed work in few, larger hand-offs; small depths are topped up at every call.
  if (order_done_ || (depth > 4 && pending_.size() > depth / 2)) return;
  std::vector<FileRange> ranges;
  std::vector<size_t> readers;  // the pending_ slots of `ranges`, in order
  while (pending_.size() < depth) {
    const std::optional<int64_t> index = next_index_();
    if (!index) {
      order_done_ = true;
      break;
    }
    Pending p;
    p.index = *index;
    p.where = dataset_.Locate(*index);
    if (p.where) {
      ranges.push_back(p.where->range);
      readers.push_back(pending_.size());
    }
    pending_.push_back(std::move(p));
  }
  for (size_t begin = 0; begin < ranges.size(); begin += kGroupSize) {
    const size_t end = std::min(ranges.size(), begin + kGroupSize);
    auto group = std::make_shared<Group>();
    group->future = reader_.ReadGroup(std::vector<FileRange>(
        std::make_move_iterator(ranges.begin() + static_cast<std::ptrdiff_t>(begin)),
        std::make_move_iterator(ranges.begin() + static_cast<std::ptrdiff_t>(end))));
    for (size_t i = begin; i < end; ++i) {
      pending_[readers[i]].group = group;
      pending_[readers[i]].slot = i - begin;
    }
  }
  const auto now = static_cast<int64_t>(pending_.size());
  in_flight_.store(now, std::memory_order_relaxed);
  if (now > max_in_flight_.load(std::memory_order_relaxed))
    max_in_flight_.store(now, std::memory_order_relaxed);
}

std::optional<EncodedRecord> RecordReader::Next() {
  if (pending_.empty()) return std::nullopt;
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  in_flight_.store(static_cast<int64_t>(pending_.size()), std::memory_order_relaxed);
  EncodedRecord record;
  record.index = p.index;
  if (p.where) {
    try {
      record.bytes = p.group->Get()[p.slot].Take();
    } catch (const Error& e) {
      throw e.WithRecord(p.index);
    }
    record.label = p.where->label;
    record.source = std::move(p.where->range.path);
    record.entry = std::move(p.where->entry);
  } else {
    record.label = dataset_.Label(p.index);
  }
  ++handed_out_;
  Issue();  // keep reads in flight while the consumer works on this record
  return record;
}

}  // namespace millrace::io
