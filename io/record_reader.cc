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
    if (p.bytes.valid()) p.bytes.wait();
}

void RecordReader::Issue() {
  const auto depth = static_cast<size_t>(options_.prefetch_depth);
  // Top up in batches (once at most half the depth is in flight) so that the io thread is
  // handed work in few, larger hand-offs; small depths are topped up at every call.
  if (order_done_ || (depth > 4 && pending_.size() > depth / 2)) return;
  std::vector<FileRange> ranges;
  const size_t first_new = pending_.size();
  while (pending_.size() < depth) {
    const std::optional<int64_t> index = next_index_();
    if (!index) {
      order_done_ = true;
      break;
    }
    Pending p;
    p.index = *index;
    p.where = dataset_.Locate(*index);
    if (p.where) ranges.push_back(p.where->range);
    pending_.push_back(std::move(p));
  }
  std::vector<std::future<Bytes>> futures = reader_.ReadBatch(std::move(ranges));
  size_t next_future = 0;
  for (size_t i = first_new; i < pending_.size(); ++i) {
    if (pending_[i].where) pending_[i].bytes = std::move(futures[next_future++]);
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
      record.bytes = p.bytes.get();
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
