// TarShardStream: one rank's samples of an epoch of WebDataset tar shards (io/tar_format.h).
//
//   TarShardStream stream(shards, reader, {.seed = 1, .epoch = e, .rank = 0, .world = 2});
//   while (auto record = stream.Next()) ...;    // EncodedRecord; decode with DecodeRecord
//
// The stream's io threads (one per shard in flight) each read a shard in large chunks through an
// AsyncReader and parse it with libarchive as the chunks land, each entry's bytes going straight
// into its record; records reach the consumer in batches (one hand-off per batch), shard after
// shard in the epoch's shard order, and leave through a seeded shuffle buffer. The output is a
// function of (seed, epoch, rank, world) only, not of thread timing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/async_reader.h"
#include "io/random.h"
#include "io/record.h"
#include "io/tar_format.h"

namespace millrace::io {

struct TarStreamOptions {
  uint64_t seed = 0;
  int64_t epoch = 0;
  // Shuffle the shard order (per epoch) and the samples through a buffer of this many records
  // (0 or 1: shard order only). shuffle = false keeps both orders.
  bool shuffle = true;
  int64_t shuffle_buffer = 1000;
  // Shards are dealt to ranks round-robin after the per-epoch shard shuffle, so the ranks
  // together read every shard exactly once per epoch.
  int rank = 0;
  int world = 1;
  // Shards read and parsed at once, each on its own io thread of the stream (>= 1).
  int shards_in_flight = 2;
  // Records per hand-off from an io thread to the consumer (>= 1), and the most batches of one
  // shard waiting for the consumer (>= 1) before its io thread pauses.
  int batch_records = 256;
  int queued_batches = 16;
  // Shard reads: chunk size and chunks in flight per shard (each io thread reuses
  // chunks_in_flight buffers of chunk_bytes).
  uint64_t chunk_bytes = uint64_t{1} << 20;
  int chunks_in_flight = 3;
  TarParseOptions parse;
};

// One rank's samples for one epoch. The shard paths and the reader must outlive it; one
// consumer thread. Destruction stops the io threads (at the next chunk or batch) and joins them.
class TarShardStream final : public RecordStream {
 public:
  TarShardStream(std::vector<std::string> shards, AsyncReader& reader, TarStreamOptions options);
  ~TarShardStream() override;
  TarShardStream(const TarShardStream&) = delete;
  TarShardStream& operator=(const TarShardStream&) = delete;

  // The next record, or nullopt at the end of this rank's share of the epoch. Throws Error
  // naming the shard (and entry) for bad input under kFail, Error(kIo) for unreadable shards;
  // the records of a shard before its bad entry come first.
  std::optional<EncodedRecord> Next() override;

  // Indices (into the constructor's shard list) of the shards this rank reads, in order.
  const std::vector<int64_t>& shard_order() const noexcept { return order_; }

 private:
  // What one shard's io thread has handed over and the consumer not yet taken.
  struct ShardQueue {
    std::deque<std::vector<EncodedRecord>> batches;
    bool done = false;
    std::exception_ptr error;  // kFail: the shard's error, raised after its batches
  };
  struct Stopped {};  // unwinds an io thread's parse when the stream is destroyed

  void Stop() noexcept;  // stops and joins the io threads
  void IoThread();
  // Reads and parses the shard at `position`, reading its chunks into `buffers` (this thread's).
  void ReadShard(size_t position, std::vector<Bytes>& buffers);
  // Hands `batch` of the shard at `position` to the consumer; waits while its queue is full.
  void Push(size_t position, std::vector<EncodedRecord>&& batch);
  // Takes the next batch of records into batch_ (false at the end of the epoch).
  bool NextBatch();
  std::optional<EncodedRecord> TakeRecord();

  std::vector<std::string> shards_;
  AsyncReader& reader_;
  TarStreamOptions options_;
  std::vector<int64_t> order_;
  KeyedRng rng_;

  std::mutex mutex_;
  std::condition_variable io_wait_;        // io threads: room in a queue, a shard to start
  std::condition_variable consumer_wait_;  // the consumer: a batch, or a shard done
  std::vector<ShardQueue> queues_;         // by position in order_
  size_t consuming_ = 0;                   // position the consumer takes batches from
  size_t next_to_start_ = 0;               // position the next free io thread parses
  std::atomic<bool> stopping_{false};  // set under mutex_; the parse also reads it without
  std::vector<std::thread> threads_;

  // Consumer thread only.
  std::vector<EncodedRecord> batch_;  // the batch being moved into the shuffle buffer
  size_t batch_next_ = 0;
  std::vector<EncodedRecord> buffer_;  // the shuffle buffer
};

}  // namespace millrace::io
