#include "io/prefetcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/error.h"

namespace millrace::io {

Prefetcher::Prefetcher(AsyncReader& reader, int64_t count,
                       std::function<FileRange(int64_t)> range_of, int depth)
    : reader_(reader), count_(count), range_of_(std::move(range_of)), depth_(depth) {
  MILLRACE_CHECK_ARG(depth >= 1, "prefetch depth must be >= 1, got " << depth);
  MILLRACE_CHECK_ARG(count >= 0, "negative count " << count);
  Refill();
}

// Tops the window up in batches: once at most half of it is in flight (so that the io thread
// is handed work in few, larger batches), or whenever the depth is small.
void Prefetcher::Refill() {
  const int in_flight = static_cast<int>(in_flight_.size());
  if (issued_ >= count_ || (depth_ > 4 && in_flight > depth_ / 2)) return;
  std::vector<FileRange> ranges;
  while (issued_ < count_ && in_flight + static_cast<int>(ranges.size()) < depth_) {
    ranges.push_back(range_of_(issued_));
    ++issued_;
  }
  for (auto& f : reader_.ReadBatch(std::move(ranges))) in_flight_.push_back(std::move(f));
}

std::optional<Bytes> Prefetcher::Next() {
  if (in_flight_.empty()) return std::nullopt;
  // When the next result is not there yet, sleep until a few more are (reads complete roughly in
  // order), so that a consumer faster than its reads wakes once per few results, not per result.
  if (in_flight_.front().wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    const size_t ahead = std::min<size_t>(in_flight_.size(), std::max(1, depth_ / 8)) - 1;
    in_flight_[ahead].wait();
  }
  std::future<Bytes> front = std::move(in_flight_.front());
  in_flight_.pop_front();
  ++next_;
  Refill();  // keep `depth` in flight while the consumer works on this one
  return front.get();
}

ChunkReader::ChunkReader(AsyncReader& reader, std::string path, uint64_t size, uint64_t chunk_bytes,
                         int depth, std::vector<Bytes>* buffers)
    : reader_(reader),
      path_(std::move(path)),
      size_(size),
      chunk_(chunk_bytes),
      depth_(depth),
      buffers_(buffers ? *buffers : own_buffers_) {
  MILLRACE_CHECK_ARG(chunk_bytes >= 1, "chunk_bytes must be >= 1");
  MILLRACE_CHECK_ARG(depth >= 1, "chunk depth must be >= 1, got " << depth);
  count_ = static_cast<int64_t>((size + chunk_bytes - 1) / chunk_bytes);
  if (buffers_.size() < static_cast<size_t>(depth)) buffers_.resize(static_cast<size_t>(depth));
}

ChunkReader::~ChunkReader() {
  for (auto& f : in_flight_)
    if (f.valid()) f.wait();
}

std::span<const uint8_t> ChunkReader::Next() {
  // The caller is done with chunk next_ - 1, so chunks [next_, next_ + depth) may be in flight:
  // chunk c goes to buffers_[c % depth].
  const int64_t depth = depth_;
  while (issued_ < count_ && issued_ < next_ + depth) {
    const uint64_t offset = static_cast<uint64_t>(issued_) * chunk_;
    const uint64_t length = std::min(chunk_, size_ - offset);
    Bytes& buffer = buffers_[static_cast<size_t>(issued_ % depth)];
    if (buffer.size() < length) buffer.resize(std::min(chunk_, size_));
    in_flight_.push_back(
        reader_.ReadInto({path_, offset, length}, std::span<uint8_t>(buffer.data(), length)));
    ++issued_;
  }
  if (next_ >= count_) return {};
  std::future<void> ready = std::move(in_flight_.front());
  in_flight_.pop_front();
  ready.get();
  const uint64_t offset = static_cast<uint64_t>(next_) * chunk_;
  const Bytes& buffer = buffers_[static_cast<size_t>(next_ % depth)];
  ++next_;
  return {buffer.data(), std::min(chunk_, size_ - offset)};
}

}  // namespace millrace::io
