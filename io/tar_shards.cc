#include "io/tar_shards.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "core/error.h"
#include "io/prefetcher.h"
#include "io/sampler.h"

namespace millrace::io {

TarShardStream::TarShardStream(std::vector<std::string> shards, AsyncReader& reader,
                               TarStreamOptions options)
    : shards_(std::move(shards)),
      reader_(reader),
      options_(options),
      order_(EpochSampler(static_cast<int64_t>(shards_.size()), {.seed = options.seed,
                                                                 .shuffle = options.shuffle,
                                                                 .rank = options.rank,
                                                                 .world = options.world})
                 .Indices(options.epoch)),
      rng_(options.seed, static_cast<uint64_t>(options.epoch),
           0x7a25'0000'0000ULL + static_cast<uint64_t>(options.rank)),
      queues_(order_.size()) {
  MILLRACE_CHECK_ARG(options.shards_in_flight >= 1,
                     "shards_in_flight must be >= 1, got " << options.shards_in_flight);
  MILLRACE_CHECK_ARG(options.batch_records >= 1,
                     "batch_records must be >= 1, got " << options.batch_records);
  MILLRACE_CHECK_ARG(options.queued_batches >= 1,
                     "queued_batches must be >= 1, got " << options.queued_batches);
  MILLRACE_CHECK_ARG(options.chunk_bytes >= 1, "chunk_bytes must be >= 1");
  MILLRACE_CHECK_ARG(options.chunks_in_flight >= 1,
                     "chunks_in_flight must be >= 1, got " << options.chunks_in_flight);
  const size_t threads = std::min(order_.size(), static_cast<size_t>(options.shards_in_flight));
  threads_.reserve(threads);
  try {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { IoThread(); });
  } catch (...) {  // no thread: stop the ones started (the destructor won't run)
    Stop();
    throw;
  }
}

TarShardStream::~TarShardStream() { Stop(); }

void TarShardStream::Stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;  // under the lock, so that no waiter misses it
  }
  io_wait_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void TarShardStream::IoThread() {
  const size_t window = static_cast<size_t>(options_.shards_in_flight);
  std::vector<Bytes> buffers;  // this thread's chunk buffers, reused from shard to shard
  for (;;) {
    size_t position = 0;
    {
      std::unique_lock lock(mutex_);
      // At most `window` shards from the consumer's on are parsed or hold batches.
      io_wait_.wait(lock, [&] {
        return stopping_ || next_to_start_ >= queues_.size() ||
               next_to_start_ < consuming_ + window;
      });
      if (stopping_ || next_to_start_ >= queues_.size()) return;
      position = next_to_start_++;
    }
    ReadShard(position, buffers);
  }
}

void TarShardStream::ReadShard(size_t position, std::vector<Bytes>& buffers) {
  const int64_t shard = order_[position];
  const std::string& path = shards_[static_cast<size_t>(shard)];
  const size_t batch_size = static_cast<size_t>(options_.batch_records);
  std::vector<EncodedRecord> batch;
  batch.reserve(batch_size);
  std::exception_ptr error;
  try {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw Error(ErrorKind::kIo, "cannot open: " + ec.message()).WithFile(path);
    ChunkReader chunks(reader_, path, size, options_.chunk_bytes, options_.chunks_in_flight,
                       &buffers);
    const std::function<std::span<const uint8_t>()> read = [&] {
      if (stopping_.load(std::memory_order_relaxed)) throw Stopped{};
      return chunks.Next();
    };
    const std::function<void(EncodedRecord &&)> emit = [&](EncodedRecord&& record) {
      batch.push_back(std::move(record));
      if (batch.size() >= batch_size) {
        Push(position, std::move(batch));
        batch = {};
        batch.reserve(batch_size);
      }
    };
    ParseTarShard(read, path, shard, options_.parse, emit);
  } catch (const Stopped&) {
    return;
  } catch (const Error& e) {
    // An unreadable shard under kSkip: counted, and the rest of it passed over.
    if (e.kind() == ErrorKind::kIo && options_.parse.policy == BadInputPolicy::kSkip) {
      HandleBadRecord(e, BadInputPolicy::kSkip, options_.parse.skip_log);
    } else {
      error = std::current_exception();
    }
  } catch (...) {
    error = std::current_exception();
  }
  try {
    if (!batch.empty()) Push(position, std::move(batch));
  } catch (const Stopped&) {
    return;
  }
  {
    std::lock_guard lock(mutex_);
    queues_[position].done = true;
    queues_[position].error = error;
  }
  consumer_wait_.notify_one();
}

void TarShardStream::Push(size_t position, std::vector<EncodedRecord>&& batch) {
  ShardQueue& queue = queues_[position];
  {
    std::unique_lock lock(mutex_);
    io_wait_.wait(lock, [&] {
      return stopping_ || queue.batches.size() < static_cast<size_t>(options_.queued_batches);
    });
    if (stopping_) throw Stopped{};
    queue.batches.push_back(std::move(batch));
  }
  consumer_wait_.notify_one();
}

bool TarShardStream::NextBatch() {
  std::unique_lock lock(mutex_);
  while (consuming_ < queues_.size()) {
    ShardQueue& queue = queues_[consuming_];
    consumer_wait_.wait(lock, [&] { return !queue.batches.empty() || queue.done; });
    if (!queue.batches.empty()) {
      batch_ = std::move(queue.batches.front());
      queue.batches.pop_front();
      batch_next_ = 0;
      lock.unlock();
      io_wait_.notify_all();
      return true;
    }
    // The shard is done: its error (kFail) comes after its records.
    std::exception_ptr error = std::exchange(queue.error, nullptr);
    ++consuming_;
    lock.unlock();
    io_wait_.notify_all();
    if (error) std::rethrow_exception(error);
    lock.lock();
  }
  return false;
}

std::optional<EncodedRecord> TarShardStream::TakeRecord() {
  while (batch_next_ >= batch_.size()) {
    if (!NextBatch()) return std::nullopt;
  }
  return std::move(batch_[batch_next_++]);
}

std::optional<EncodedRecord> TarShardStream::Next() {
  const size_t capacity =
      options_.shuffle ? static_cast<size_t>(std::max<int64_t>(1, options_.shuffle_buffer)) : 1;
  // Top the buffer up to its capacity (taking batches as needed).
  while (buffer_.size() < capacity) {
    std::optional<EncodedRecord> record = TakeRecord();
    if (!record) break;
    buffer_.push_back(std::move(*record));
  }
  if (buffer_.empty()) return std::nullopt;
  size_t pick = 0;
  if (capacity > 1) pick = static_cast<size_t>(rng_.Below(buffer_.size()));
  std::swap(buffer_[pick], buffer_.back());
  EncodedRecord out = std::move(buffer_.back());
  buffer_.pop_back();
  return out;
}

}  // namespace millrace::io
