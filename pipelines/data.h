// The data side of the pipelines: a dataset split (cut to its first `limit` records when asked),
// its sample order per epoch, and the preprocessing that turns samples into a batch.
//
//   DataSource train = DataSource::Open(config, Split::kTrain);
//   for (auto& indices : train.EpochBatches(epoch))      // epoch counts from 1
//     Batch b = train.MakeBatch(epoch, indices);         // what the graph's stages compute
//
// The graph runs the same steps as separate stages: a SampleReader (io: the records' bytes, read
// ahead asynchronously), Decode + Prepare (cpu: decode, random crop and flip when augmenting),
// Collate (cpu: u8 -> f32, normalize, stack; io::Collate). Decode(reader's record) is bit for bit
// Read(index). Everything is a pure function of (seed, epoch, index), so the graph and the plain
// loop see bit-identical batches. Thread-safe: const methods may be called from any number of
// threads.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/async_reader.h"
#include "io/augment.h"
#include "io/collate.h"
#include "io/dataset.h"
#include "io/record_reader.h"
#include "io/sampler.h"
#include "pipelines/step.h"
#include "pipelines/train_config.h"

namespace millrace::pipelines {

// kValidation: the last TrainConfig::validation records of the training files, held out of
// kTrain (which then uses the records before them).
enum class Split { kTrain, kValidation, kTest };

// One record of the training order as the read stage hands it on: its encoded bytes (none for a
// dataset held in memory), label and dataset index, and its place in the run.
struct RawSample {
  int epoch = 0;
  int64_t pos = 0;  // position in the epoch's order
  io::EncodedRecord record;
};

// The records of a split skipped under --on-bad-record skip because they failed to decode: their
// dataset indices in the order they were first met, and the messages of the first
// io::SkipLog::kKeptMessages of them (what the end of a run lists). A checkpoint keeps them, so
// that a resumed run's SkipLog and --max-bad-share count cover the whole run.
struct SkippedRecords {
  std::vector<int64_t> records;
  std::vector<std::string> messages;
};

struct SampleReaderOptions {
  // Records read ahead of the consumer: reads in flight (>= 1).
  int prefetch_depth = 256;
  io::ReadBackend backend = io::ReadBackend::kAuto;  // io_uring, or the pread pool
  int pread_threads = 32;  // of the pread pool (reads that wait on the disk, not the CPU)
  // Where reading starts in the first epoch's order (a checkpoint taken inside an epoch).
  int64_t first_pos = 0;
};

class DataSource;

// The training order of a DataSource (its epochs' batches, one after the other) read ahead
// through an io::AsyncReader: image trees and tar shards on disk are read with at most
// prefetch_depth reads in flight; a dataset in memory (IDX) is not read (DataSource::Decode
// copies its records). The DataSource must outlive the reader. One consumer thread.
//
//   auto reader = train.OpenReader(/*first_epoch=*/1, /*count=*/steps * batch_size);
//   while (auto raw = reader->Next())                              // io stage
//     Use(train.Prepare(train.Decode(raw->record), raw->epoch));   // cpu stage
class SampleReader {
 public:
  SampleReader(const DataSource& source, int first_epoch, int64_t count,
               SampleReaderOptions options);
  // The next record (from epoch first_epoch, position first_pos on; `count` in all), or nullopt
  // after the last. Throws Error(kIo) naming the file and the record when its read failed.
  std::optional<RawSample> Next();
  // The reads in flight now and at most so far, and whether they go through io_uring.
  const io::RecordReader& records() const { return *records_; }
  bool uses_io_uring() const { return reader_.uses_io_uring(); }

 private:
  std::optional<int64_t> NextIndex();  // the generator the RecordReader pulls from

  const DataSource& source_;
  int64_t remaining_;                         // indices still to issue
  int epoch_;                                 // of the next index to issue
  int64_t pos_ = 0;                           // its position in epoch_'s order
  int64_t first_pos_ = 0;                     // where the first epoch's order starts
  io::EpochOrder order_;                      // epoch_'s order
  std::deque<std::pair<int, int64_t>> tags_;  // (epoch, pos) of the records issued, in order
  io::AsyncReader reader_;
  std::unique_ptr<io::RecordReader> records_;
};

class DataSource {
 public:
  // Opens config.data_dir in config.data_format. kTrain: shuffled per epoch (config.seed),
  // drop-last batches of config.batch_size, augmented when config.augment, the records before
  // the validation split, cut to config.limit; kValidation: in order, the last
  // config.validation training records; kTest: in order, every record, cut to
  // config.test_limit. Throws Error(kIo/kData) naming the file that is missing or bad, and
  // Error(kInvalidArgument) when the validation split leaves no batch to train on.
  static DataSource Open(const TrainConfig& config, Split split);
  // Over a dataset already in memory (tests, benchmarks; the validation split over the
  // training split's dataset, shared()).
  DataSource(std::shared_ptr<const io::IndexedDataset> dataset, Split split,
             const TrainConfig& config);

  int64_t size() const { return size_; }  // records used (after limit and the split)
  // The dataset's index of the split's first record (kValidation: past the training records).
  int64_t first() const { return first_; }
  int64_t num_classes() const { return dataset_->num_classes(); }
  int64_t batch_size() const { return batch_size_; }
  int64_t batches_per_epoch() const { return sampler_.num_batches(); }
  int64_t samples_per_epoch() const { return sampler_.num_samples(); }
  const io::IndexedDataset& dataset() const { return *dataset_; }
  // Warnings of the scan to show the user: entries of an image tree that are not images (a
  // README, a FIFO), with their count and the first few paths.
  const std::vector<std::string>& notes() const { return notes_; }
  const std::shared_ptr<const io::IndexedDataset>& shared() const { return dataset_; }

  // The batches of `epoch` (from 1): indices into the split, 0 .. size() - 1 (Read adds first()).
  std::vector<std::vector<int64_t>> EpochBatches(int epoch) const;
  // The same indices as one compact order: EpochBatches(epoch) joined (what the read stage
  // walks; 4 bytes a record below 2^32 records).
  io::EpochOrder EpochOrder(int epoch) const;

  // The three preprocessing steps, as the graph's stages call them.
  io::Sample Read(int64_t index) const;  // the split's index-th record
  io::Sample Prepare(io::Sample sample, int epoch) const;
  // Normalizes and stacks samples into images f32 [B, C, H, W] and labels i64 [B] (the
  // batch's seq, epoch and position are left for the caller).
  Batch Collate(std::span<const io::Sample> samples) const;

  // The training order from `first_epoch`, `count` samples, read ahead (SampleReader), and the
  // decode of one of its records on the cpu stage: the Sample that Read returns, bit for bit.
  std::unique_ptr<SampleReader> OpenReader(int first_epoch, int64_t count,
                                           SampleReaderOptions options = {}) const;
  io::Sample Decode(const io::EncodedRecord& record) const { return dataset_->Decode(record); }

  // Decode and Read under --on-bad-record (TrainConfig::bad_records): a record that fails to
  // decode (Error of kind kData: an undecodable JPEG or PNG, named with its file, tar entry and
  // index) throws under fail; under skip it gives nullopt, is described in the SkipLog the
  // first time it fails (a bad file fails again every epoch), and once more than
  // max_bad_share of the split's records have failed, Error(kData) ends the run. Thread-safe.
  std::optional<io::Sample> DecodeOrSkip(const io::EncodedRecord& record) const;
  std::optional<io::Sample> ReadOrSkip(int64_t index) const;
  // Records of this split that failed to decode and were skipped (each counted once).
  int64_t bad_records() const;
  // Those records (empty under --on-bad-record fail), and their restoration from a checkpoint:
  // each restored record counts as met (described in the SkipLog now, not again when it fails
  // again). Under fail, RestoreSkippedRecords keeps nothing: a bad record then fails when met.
  // Throws Error(kData) for a record outside the split. Thread-safe.
  SkippedRecords skipped_records() const;
  void RestoreSkippedRecords(const SkippedRecords& skipped);

  // ReadOrSkip + Prepare + Collate in a plain loop (a record skipped under --on-bad-record skip
  // leaves the batch one sample short, as in the graph).
  Batch MakeBatch(int epoch, std::span<const int64_t> indices) const;

 private:
  struct Range {  // the records a split uses: [first, first + size) of the dataset
    int64_t first = 0;
    int64_t size = 0;
  };
  static Range UsedRange(const io::IndexedDataset& dataset, Split split, const TrainConfig& config);
  DataSource(std::shared_ptr<const io::IndexedDataset> dataset, Split split,
             const TrainConfig& config, Range range);

  class BadRecords;  // data.cc: the records skipped under --on-bad-record skip
  // read(): under skip, a data error is recorded against dataset index `index` and gives
  // nullopt.
  template <class F>
  std::optional<io::Sample> OrSkip(int64_t index, F read) const;

  std::shared_ptr<const io::IndexedDataset> dataset_;
  std::shared_ptr<BadRecords> bad_;  // null under --on-bad-record fail
  Split split_;
  std::vector<std::string> notes_;
  int64_t first_ = 0;
  int64_t size_ = 0;
  int64_t batch_size_ = 0;
  bool augment_ = false;
  io::AugmentOptions augment_options_;
  io::CollateOptions collate_options_;
  io::EpochSampler sampler_;
};

}  // namespace millrace::pipelines
