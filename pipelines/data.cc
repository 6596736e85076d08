#include "pipelines/data.h"

#include <filesystem>
#include <set>

#include "io/idx.h"
#include "io/image_folder.h"
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

std::shared_ptr<const io::IndexedDataset> OpenDataset(const TrainConfig& config, Split split) {
  const std::string name = split == Split::kTest ? "test" : "train";
  if (config.data_format == "idx") {
    MILLRACE_CHECK(std::filesystem::is_directory(config.data_dir), ErrorKind::kIo,
                   "dataset directory " << config.data_dir
                                        << " does not exist (--data DIR with the IDX files)");
    return std::make_shared<io::IdxDataset>(io::IdxDataset::FashionMnist(name, config.data_dir));
  }
  if (config.data_format == "folder") {
    // root/train/<class>/<image> and root/test/<class>/<image> (`millrace data to-folder`).
    return std::make_shared<io::ImageFolderDataset>(
        (std::filesystem::path(config.data_dir) / name).string());
  }
  if (config.data_format == "tar") {
    // root/train/*.tar and root/test/*.tar (`millrace data to-tar`): the index of the records
    // (offset, size, label) is a file beside the shards (io/tar_index.h), read with pread as
    // records are due; the records stay on disk.
    return std::make_shared<io::TarDataset>(
        (std::filesystem::path(config.data_dir) / name).string(),
        io::TarDatasetOptions{.in_memory = false});
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

DataSource DataSource::Open(const TrainConfig& config, Split split) {
  return DataSource(OpenDataset(config, split), split, config);
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
  augment_options_.seed = config.seed;
  augment_options_.crop_padding = 2;
  augment_options_.random_flip = true;
  collate_options_.normalize = io::FashionMnistNormalization();
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
  io::Batch collated = io::Collate(samples, collate_options_);
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
    pos_ = 0;
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

Batch DataSource::MakeBatch(int epoch, std::span<const int64_t> indices) const {
  std::vector<io::Sample> samples;
  samples.reserve(indices.size());
  for (int64_t index : indices) samples.push_back(Prepare(Read(index), epoch));
  Batch b = Collate(samples);
  b.epoch = epoch;
  return b;
}

}  // namespace millrace::pipelines
