#include "pipelines/data.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>

#include "io/idx.h"
#include "io/image_folder.h"
#include "io/record.h"
#include "io/tar_dataset.h"

namespace millrace::pipelines {

namespace {

io::EpochSamplerOptions SamplerOptions(Split split, const TrainConfig& config) {
  io::EpochSamplerOptions o;
  o.seed = config.seed;
  o.shuffle = split == Split::kTrain;
  o.drop_last = split == Split::kTrain;
  o.batch_size = config.batch_size;
  return o;
}

}  // namespace

DataSource::Range DataSource::UsedRange(const io::IndexedDataset& dataset, Split split,
                                        const TrainConfig& config) {
  const int64_t total = dataset.size();
  if (split == Split::kTest) {
    return {0, config.test_limit > 0 ? std::min(config.test_limit, total) : total};
  }
  MILLRACE_CHECK_ARG(config.validation >= 0 && config.validation < total,
                     "--validation " << config.validation << ": the training set has " << total
                                     << " records; hold out fewer");
  const int64_t trainable = total - config.validation;
  if (split == Split::kValidation) return {trainable, config.validation};
  return {0, config.limit > 0 ? std::min(config.limit, trainable) : trainable};
}

namespace {

// The classes of every model preset (ops/models.h).
constexpr int64_t kModelClasses = 10;

// A class folder more than the models have outputs, or a test tree whose class folders are not
// the training tree's (labels are folder positions: one missing folder shifts the rest).
void CheckClassFolders(const io::ImageFolderDataset& tree, const TrainConfig& config) {
  MILLRACE_CHECK(tree.num_classes() <= kModelClasses, ErrorKind::kData,
                 tree.root() << " has " << tree.num_classes() << " class folders; the models have "
                             << kModelClasses << " outputs");
  const std::filesystem::path train = std::filesystem::path(config.data_dir) / "train";
  if (std::filesystem::path(tree.root()) == train || !std::filesystem::is_directory(train)) return;
  std::vector<std::string> train_classes;
  for (const auto& entry : std::filesystem::directory_iterator(train)) {
    if (entry.is_directory()) train_classes.push_back(entry.path().filename().string());
  }
  std::sort(train_classes.begin(), train_classes.end());
  for (size_t i = 0; i < std::max(train_classes.size(), tree.classes().size()); ++i) {
    const std::string have = i < tree.classes().size() ? tree.classes()[i] : "(none)";
    const std::string want = i < train_classes.size() ? train_classes[i] : "(none)";
    MILLRACE_CHECK(have == want, ErrorKind::kData,
                   tree.root() << ": class folder " << i << " is '" << have << "', but in "
                               << train.string() << " it is '" << want
                               << "' (the two trees must have the same class folders)");
  }
}

// --on-bad-record skip: too many bad records is a bad dataset, not bad luck.
void CheckBadShare(const TrainConfig& config, int64_t skipped, int64_t kept,
                   const std::string& what) {
  const int64_t total = skipped + kept;
  MILLRACE_CHECK(total == 0 || skipped <= config.max_bad_share * static_cast<double>(total),
                 ErrorKind::kData,
                 what << ": " << skipped << " of " << total << " records are bad, more than the "
                      << 100.0 * config.max_bad_share << "% that may be skipped; "
                      << (config.bad_records ? config.bad_records->Summary() : std::string()));
}

std::shared_ptr<const io::IndexedDataset> OpenDataset(const TrainConfig& config, Split split,
                                                      std::vector<std::string>& notes) {
  const std::string name = split == Split::kTest ? "test" : "train";
  if (config.data_format == "idx") {
    MILLRACE_CHECK(std::filesystem::is_directory(config.data_dir), ErrorKind::kIo,
                   "dataset directory " << config.data_dir
                                        << " does not exist (--data DIR with the IDX files)");
    io::IdxOptions options;
    options.policy = config.bad_records ? io::BadInputPolicy::kSkip : io::BadInputPolicy::kFail;
    options.skip_log = config.bad_records.get();
    auto dataset = std::make_shared<io::IdxDataset>(
        io::IdxDataset::FashionMnist(name, config.data_dir, options));
    CheckBadShare(config, dataset->skipped(), dataset->size(), config.data_dir + " (" + name + ")");
    return dataset;
  }
  if (config.data_format == "folder") {
    // root/train/<class>/<image> and root/test/<class>/<image> (`millrace data to-folder`).
    io::ImageFolderOptions options;
    options.policy = config.bad_records ? io::BadInputPolicy::kSkip : io::BadInputPolicy::kFail;
    auto tree = std::make_shared<io::ImageFolderDataset>(
        (std::filesystem::path(config.data_dir) / name).string(), options);
    CheckClassFolders(*tree, config);
    if (tree->ignored().count > 0) notes.push_back(tree->ignored().Note(tree->root()));
    return tree;
  }
  if (config.data_format == "tar") {
    // root/train/*.tar and root/test/*.tar (`millrace data to-tar`): the index of the records
    // (offset, size, label) is a file beside the shards (io/tar_index.h), read with pread as
    // records are due; the records stay on disk.
    io::TarDatasetOptions options;
    options.in_memory = false;
    options.num_classes = kModelClasses;  // a label out of range names its shard and entry
    options.policy = config.bad_records ? io::BadInputPolicy::kSkip : io::BadInputPolicy::kFail;
    return std::make_shared<io::TarDataset>(
        (std::filesystem::path(config.data_dir) / name).string(), options);
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "--format " << config.data_format << ": expected idx, folder or tar");
}

// A held-out tail is only worth having when it holds the classes the rest holds: records kept
// class after class (an image tree lists its directories in order) would leave whole classes
// out of the training split and make up the validation split alone.
void CheckValidationSplit(const io::IndexedDataset& dataset, int64_t trainable) {
  std::set<int64_t> held_out, trained;
  for (int64_t i = trainable; i < dataset.size(); ++i) held_out.insert(dataset.Label(i));
  for (int64_t i = 0; i < trainable; ++i) trained.insert(dataset.Label(i));
  MILLRACE_CHECK_ARG(held_out.size() >= trained.size(),
                     "--validation "
                         << dataset.size() - trainable << ": the last "
                         << dataset.size() - trainable << " training records hold "
                         << held_out.size() << " of the " << trained.size()
                         << " classes of the records before them, so the records are ordered by "
                            "class (an image tree is read class after class) and a held-out tail "
                            "would not be representative; hold out from IDX files or tar shards "
                            "written in mixed order (`millrace data to-tar`)");
}

}  // namespace

// The records of a split that failed to decode under --on-bad-record skip: each is described
// in the run's SkipLog once, and too many of them end the run.
class DataSource::BadRecords {
 public:
  BadRecords(const TrainConfig& config, int64_t records)
      : log_(config.bad_records), max_share_(config.max_bad_share), records_(records) {}

  void Skip(const Error& error, int64_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!bad_.insert(index).second) return;  // seen in an earlier epoch
    met_.records.push_back(index);
    if (met_.messages.size() < io::SkipLog::kKeptMessages) met_.messages.push_back(error.what());
    log_->Record(error);
    const int64_t bad = static_cast<int64_t>(bad_.size());
    MILLRACE_CHECK(bad <= max_share_ * static_cast<double>(records_), ErrorKind::kData,
                   bad << " of the " << records_ << " records failed to decode so far, more than "
                       << 100.0 * max_share_ << "% that may be skipped (--max-bad-share); "
                       << log_->Summary());
  }
  int64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(bad_.size());
  }
  SkippedRecords met() const {
    std::lock_guard<std::mutex> lock(mu_);
    return met_;
  }
  // Records met by an earlier run (from its checkpoint), in the order that run met them.
  void Restore(const SkippedRecords& earlier) {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t added = 0;
    std::vector<std::string> messages;
    for (size_t i = 0; i < earlier.records.size(); ++i) {
      if (!bad_.insert(earlier.records[i]).second) continue;
      met_.records.push_back(earlier.records[i]);
      ++added;
      if (i < earlier.messages.size() && met_.messages.size() < io::SkipLog::kKeptMessages) {
        met_.messages.push_back(earlier.messages[i]);
        messages.push_back(earlier.messages[i]);
      }
    }
    log_->Restore(added, messages);
  }

 private:
  std::shared_ptr<io::SkipLog> log_;
  double max_share_;
  int64_t records_;
  mutable std::mutex mu_;
  std::set<int64_t> bad_;
  SkippedRecords met_;  // bad_ in the order met, the first few messages
};

DataSource DataSource::Open(const TrainConfig& config, Split split) {
  std::vector<std::string> notes;
  DataSource source(OpenDataset(config, split, notes), split, config);
  source.notes_ = std::move(notes);
  return source;
}

DataSource::DataSource(std::shared_ptr<const io::IndexedDataset> dataset, Split split,
                       const TrainConfig& config)
    : DataSource(dataset, split, config, UsedRange(*dataset, split, config)) {}

DataSource::DataSource(std::shared_ptr<const io::IndexedDataset> dataset, Split split,
                       const TrainConfig& config, Range range)
    : dataset_(std::move(dataset)),
      split_(split),
      first_(range.first),
      size_(range.size),
      batch_size_(config.batch_size),
      augment_(split == Split::kTrain && config.augment),
      sampler_(size_, SamplerOptions(split, config)) {
  MILLRACE_CHECK_ARG(config.batch_size > 0, "batch size must be > 0");
  if (split == Split::kValidation) CheckValidationSplit(*dataset_, first_);
  MILLRACE_CHECK_ARG(split != Split::kTrain || size_ >= config.batch_size,
                     "the training set has "
                         << size_ << " samples"
                         << (config.validation > 0 ? " (after the validation split)" : "")
                         << ", fewer than one batch of " << config.batch_size);
  if (config.bad_records) bad_ = std::make_shared<BadRecords>(config, size_);
  augment_options_.seed = config.seed;
  augment_options_.crop_padding = 2;
  augment_options_.random_flip = true;
  collate_options_.normalize = io::FashionMnistNormalization();
  // A batch bound for a GPU is collated into pinned memory, which the to-device stage copies
  // from beside the compute stream's work.
  if (split == Split::kTrain && config.device.is_cuda())
    collate_options_.host = HostMemory::kPinned;
}

std::vector<std::vector<int64_t>> DataSource::EpochBatches(int epoch) const {
  return sampler_.Batches(epoch - 1);
}

io::EpochOrder DataSource::EpochOrder(int epoch) const { return sampler_.Order(epoch - 1); }

io::Sample DataSource::Read(int64_t index) const { return dataset_->Read(first_ + index); }

io::Sample DataSource::Prepare(io::Sample sample, int epoch) const {
  if (augment_) sample = io::Augment(std::move(sample), augment_options_, epoch - 1);
  return sample;
}

Batch DataSource::Collate(std::span<const io::Sample> samples) const {
  io::CollatedBatch collated = io::Collate(samples, collate_options_);
  Batch b;
  b.images = std::move(collated.images);
  b.labels = std::move(collated.labels);
  b.indices.reserve(samples.size());
  for (const io::Sample& s : samples) b.indices.push_back(s.index);
  return b;
}

std::unique_ptr<SampleReader> DataSource::OpenReader(int first_epoch, int64_t count,
                                                     SampleReaderOptions options) const {
  return std::make_unique<SampleReader>(*this, first_epoch, count, options);
}

SampleReader::SampleReader(const DataSource& source, int first_epoch, int64_t count,
                           SampleReaderOptions options)
    : source_(source),
      remaining_(count),
      epoch_(first_epoch),
      first_pos_(options.first_pos),
      reader_(io::AsyncReaderOptions{.backend = options.backend,
                                     .pread_threads = options.pread_threads}) {
  MILLRACE_CHECK_ARG(count >= 0, "negative sample count " << count);
  records_ = std::make_unique<io::RecordReader>(
      source.dataset(), [this] { return NextIndex(); }, reader_,
      io::RecordReaderOptions{.prefetch_depth = options.prefetch_depth});
}

std::optional<int64_t> SampleReader::NextIndex() {
  if (remaining_ == 0) return std::nullopt;
  if (pos_ == order_.size()) {
    if (!order_.empty()) ++epoch_;
    order_ = {};  // freed before the next epoch's order is made
    order_ = source_.EpochOrder(epoch_);
    pos_ = std::exchange(first_pos_, 0);
    MILLRACE_CHECK(!order_.empty(), ErrorKind::kInternal, "epoch " << epoch_ << " has no samples");
  }
  tags_.emplace_back(epoch_, pos_);
  --remaining_;
  return source_.first() + order_[pos_++];
}

std::optional<RawSample> SampleReader::Next() {
  std::optional<io::EncodedRecord> record = records_->Next();
  if (!record) return std::nullopt;
  const auto [epoch, pos] = tags_.front();
  tags_.pop_front();
  return RawSample{epoch, pos, std::move(*record)};
}

template <class F>
std::optional<io::Sample> DataSource::OrSkip(int64_t index, F read) const {
  if (!bad_) return read();
  try {
    return read();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kData) throw;
    bad_->Skip(e, index);
    return std::nullopt;
  }
}

std::optional<io::Sample> DataSource::DecodeOrSkip(const io::EncodedRecord& record) const {
  return OrSkip(record.index, [&] { return Decode(record); });
}

std::optional<io::Sample> DataSource::ReadOrSkip(int64_t index) const {
  return OrSkip(first_ + index, [&] { return Read(index); });
}

int64_t DataSource::bad_records() const { return bad_ ? bad_->count() : 0; }

SkippedRecords DataSource::skipped_records() const { return bad_ ? bad_->met() : SkippedRecords{}; }

void DataSource::RestoreSkippedRecords(const SkippedRecords& skipped) {
  if (!bad_) return;
  for (int64_t index : skipped.records) {
    MILLRACE_CHECK(index >= first_ && index < first_ + size_, ErrorKind::kData,
                   "skipped record " << index << " lies outside the split's records [" << first_
                                     << ", " << first_ + size_ << ")");
  }
  bad_->Restore(skipped);
}

Batch DataSource::MakeBatch(int epoch, std::span<const int64_t> indices) const {
  std::vector<io::Sample> samples;
  samples.reserve(indices.size());
  for (int64_t index : indices) {
    if (std::optional<io::Sample> s = ReadOrSkip(index))
      samples.push_back(Prepare(std::move(*s), epoch));
  }
  MILLRACE_CHECK(!samples.empty(), ErrorKind::kData,
                 "every one of the " << indices.size() << " records of a batch of epoch " << epoch
                                     << " failed to decode and was skipped: " << dataset_->size()
                                     << " records, " << (bad_ ? bad_->count() : 0)
                                     << " of them bad");
  Batch b = Collate(samples);
  b.epoch = epoch;
  return b;
}

}  // namespace millrace::pipelines
