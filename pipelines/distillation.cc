#include "pipelines/distillation.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "ops/checkpoint/checkpoint.h"
#include "ops/checkpoint/safetensors.h"
#include "ops/models.h"
#include "pipelines/training.h"

namespace millrace::pipelines {

namespace {

// What the teacher stage saw of batch `seq`: the samples (a fingerprint of their indices).
// distill-loss takes the entry of its item's seq and compares: the join by sequence number.
class TeacherLedger {
 public:
  void Put(int64_t seq, uint64_t fingerprint) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_[seq] = fingerprint;
  }
  // The teacher's fingerprint of batch seq, removed; false when the teacher never saw it.
  bool Take(int64_t seq, uint64_t& fingerprint) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(seq);
    if (it == entries_.end()) return false;
    fingerprint = it->second;
    entries_.erase(it);
    return true;
  }

 private:
  std::mutex mu_;
  std::unordered_map<int64_t, uint64_t> entries_;
};

uint64_t Fingerprint(const std::vector<int64_t>& indices) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the indices
  for (int64_t i : indices) {
    h ^= static_cast<uint64_t>(i);
    h *= 1099511628211ull;
  }
  return h;
}

class DistillLossStage final : public ComputeStage {
 public:
  DistillLossStage(ops::DistillationOptions options, std::shared_ptr<TeacherLedger> ledger)
      : ComputeStage("distill-loss"), options_(options), ledger_(std::move(ledger)) {}

  void Run(StepItem& item, TrainState&) override {
    const int64_t seq = item.batch.seq;
    MILLRACE_CHECK(item.teacher_logits.defined(), ErrorKind::kInternal,
                   "distill-loss: batch " << seq << " arrived without the teacher's logits");
    if (ledger_) {
      uint64_t fingerprint = 0;
      MILLRACE_CHECK(ledger_->Take(seq, fingerprint), ErrorKind::kInternal,
                     "distill-loss: the teacher never saw batch " << seq);
      MILLRACE_CHECK(fingerprint == Fingerprint(item.batch.indices), ErrorKind::kInternal,
                     "distill-loss: the teacher's logits of batch "
                         << seq << " are of other samples than the student's");
    }
    // A teacher on the CPU beside a student on a GPU (mixed placement), or logits from the
    // host cache: the loss runs where the student's logits are.
    if (item.teacher_logits.device() != item.logits.device()) {
      item.teacher_logits = item.teacher_logits.To(item.logits.device());
    }
    ops::LossResult r =
        ops::DistillationLoss(item.logits, item.teacher_logits, item.batch.labels, options_);
    item.loss = r.loss;
    item.dlogits = std::move(r.grad);
    item.teacher_logits = Tensor();
  }

 private:
  ops::DistillationOptions options_;
  std::shared_ptr<TeacherLedger> ledger_;
};

}  // namespace

Teacher::Teacher(ops::Sequential model, bool cache_logits)
    : model_(std::move(model)), cache_logits_(cache_logits) {}

std::shared_ptr<Teacher> Teacher::FromCheckpoint(const std::string& model_name,
                                                 const std::string& path, bool cache_logits) {
  ops::Sequential model = ops::MakeModel(model_name, 0);
  ops::LoadCheckpoint(path, model, nullptr);
  return std::make_shared<Teacher>(std::move(model), cache_logits);
}

Tensor Teacher::Forward(const Tensor& images) {
  forwards_.fetch_add(1);
  forwarded_samples_.fetch_add(images.ndim() >= 1 ? images.dim(0) : 0);
  // A teacher on a GPU: the batch copied in; its logits stay there unless the cache (on the
  // host) keeps them (distill-loss moves them to the student's device).
  const std::vector<ops::Parameter*> parameters = model_.Parameters();
  const Device device = parameters.empty() ? Device::Cpu() : parameters[0]->value.device();
  if (device == images.device()) return model_.Forward(images, ops::Mode::kEval);
  Tensor logits = model_.Forward(images.To(device), ops::Mode::kEval);
  return cache_logits_ ? logits.To(Device::Cpu()) : std::move(logits);
}

bool Teacher::Cached(const std::vector<int64_t>& indices) const {
  if (!cache_logits_ || classes_ == 0 || indices.empty()) return false;
  for (int64_t i : indices) {
    if (i < 0 || i >= static_cast<int64_t>(cached_.size()) || !cached_[i]) return false;
  }
  return true;
}

Tensor Teacher::Logits(const Batch& batch) {
  const int64_t rows = static_cast<int64_t>(batch.indices.size());
  if (Cached(batch.indices)) {
    cache_hits_.fetch_add(1);
    Tensor logits = Tensor::Empty({rows, classes_});
    float* out = logits.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(out + r * classes_, &cache_[batch.indices[r] * classes_],
                  sizeof(float) * classes_);
    }
    return logits;
  }
  if (cache_logits_ && classes_ > 0 && rows > 0 && batch.images.ndim() >= 1 &&
      batch.images.dim(0) == rows) {
    // Part of the batch is cached (an epoch's order drops a partial batch at its end, so
    // epoch 2 meets a few samples epoch 1 never saw): forward only the missing rows.
    std::vector<int64_t> missing;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = batch.indices[r];
      if (i < 0 || i >= static_cast<int64_t>(cached_.size()) || !cached_[i]) missing.push_back(r);
    }
    if (static_cast<int64_t>(missing.size()) < rows) return PartlyCached(batch, missing);
  }
  Tensor logits = Forward(batch.images);
  if (!cache_logits_ || rows == 0) return logits;
  MILLRACE_CHECK(logits.ndim() == 2 && logits.shape()[0] == rows, ErrorKind::kInternal,
                 "teacher: logits of shape " << ToString(logits.shape()) << " for a batch of "
                                             << rows << " samples");
  MILLRACE_CHECK(classes_ == 0 || classes_ == logits.shape()[1], ErrorKind::kInternal,
                 "teacher: the number of classes changed");
  classes_ = logits.shape()[1];
  const int64_t largest = *std::max_element(batch.indices.begin(), batch.indices.end());
  MILLRACE_CHECK(*std::min_element(batch.indices.begin(), batch.indices.end()) >= 0,
                 ErrorKind::kInternal, "teacher: a negative sample index");
  if (largest >= static_cast<int64_t>(cached_.size())) {
    cached_.resize(static_cast<size_t>(largest + 1), false);
    cache_.resize(cached_.size() * static_cast<size_t>(classes_), 0.0f);
  }
  const float* in = logits.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(&cache_[batch.indices[r] * classes_], in + r * classes_, sizeof(float) * classes_);
    if (!cached_[batch.indices[r]]) {
      cached_[batch.indices[r]] = true;
      ++cached_count_;
      file_dirty_ = true;
    }
  }
  if (!file_.empty() && cached_count_ >= file_samples_) SaveCacheFile();
  return logits;
}

Tensor Teacher::PartlyCached(const Batch& batch, const std::vector<int64_t>& missing) {
  const int64_t rows = static_cast<int64_t>(batch.indices.size());
  const Tensor images = batch.images.Plain();
  Shape sub_shape = images.shape();
  sub_shape[0] = static_cast<int64_t>(missing.size());
  Tensor sub = Tensor::Empty(sub_shape);
  const int64_t row_floats = images.numel() / rows;
  const float* in = images.data<float>();
  float* out = sub.data<float>();
  for (size_t k = 0; k < missing.size(); ++k) {
    std::memcpy(out + k * row_floats, in + missing[k] * row_floats, sizeof(float) * row_floats);
  }
  Batch part;
  part.images = std::move(sub);
  for (int64_t r : missing) part.indices.push_back(batch.indices[r]);
  Logits(part);  // computes and caches the missing rows (a batch with nothing cached)
  cache_hits_.fetch_add(1);
  Tensor logits = Tensor::Empty({rows, classes_});
  float* dst = logits.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * classes_, &cache_[batch.indices[r] * classes_], sizeof(float) * classes_);
  }
  return logits;
}

int64_t Teacher::UseCacheFile(std::string path, std::string key, int64_t samples,
                              std::string* stale) {
  MILLRACE_CHECK_ARG(!path.empty(), "teacher cache: an empty file name");
  file_ = std::move(path);
  file_key_ = std::move(key);
  file_samples_ = samples;
  cache_logits_ = true;
  if (!std::filesystem::exists(file_)) return 0;
  ops::SafetensorsContents contents = ops::ReadSafetensors(file_);
  const Tensor* logits = contents.Find("logits");
  const Tensor* cached = contents.Find("cached");
  MILLRACE_CHECK(logits != nullptr && cached != nullptr && logits->ndim() == 2 &&
                     logits->dtype() == DType::kF32 && cached->dtype() == DType::kU8 &&
                     cached->ndim() == 1 && cached->dim(0) == logits->dim(0),
                 ErrorKind::kData,
                 file_ << ": not a teacher cache (want F32 'logits' [samples, classes] and U8 "
                          "'cached' [samples]); delete it or pick another --teacher-cache file");
  if (contents.metadata["key"] != file_key_) {
    if (stale != nullptr) {
      *stale = file_ +
               " holds the logits of another teacher or data; recomputing and "
               "overwriting it";
    }
    return 0;
  }
  classes_ = logits->dim(1);
  const int64_t n = logits->dim(0);
  cache_.assign(logits->data<float>(), logits->data<float>() + n * classes_);
  cached_.assign(static_cast<size_t>(n), false);
  cached_count_ = 0;
  const uint8_t* flags = cached->data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    cached_[i] = flags[i] != 0;
    cached_count_ += cached_[i] ? 1 : 0;
  }
  file_dirty_ = false;
  return cached_count_;
}

void Teacher::SaveCacheFile() {
  if (file_.empty() || !file_dirty_ || classes_ == 0) return;
  const int64_t n = static_cast<int64_t>(cached_.size());
  Tensor logits = Tensor::FromVector({n, classes_}, cache_);
  Tensor cached = Tensor::Empty({n}, DType::kU8);
  uint8_t* flags = cached.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) flags[i] = cached_[i] ? 1 : 0;
  ops::WriteSafetensors(file_, {{"cached", &cached}, {"logits", &logits}},
                        {{"key", file_key_}, {"format", "millrace teacher logits"}});
  file_dirty_ = false;
}

std::string Teacher::CacheKey(ops::Sequential& model, const TrainConfig& config) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the teacher's bytes and the data's names
  auto mix = [&h](const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  };
  for (ops::Parameter* p : model.Parameters()) mix(p->value.raw_data(), p->value.nbytes());
  for (auto& [name, t] : model.Buffers()) mix(t->raw_data(), t->nbytes());
  std::ostringstream key;
  key << std::hex << h << std::dec << " " << config.teacher_model << " " << config.data_format
      << " " << std::filesystem::absolute(config.data_dir).lexically_normal().string() << " limit "
      << config.limit << " validation " << config.validation;
  return key.str();
}

ComputeStagePtr MakeDistillLossStage(const ops::DistillationOptions& options) {
  return std::make_unique<DistillLossStage>(options, nullptr);
}

void AttachDistillation(TrainingPipeline& pipeline, std::shared_ptr<Teacher> teacher,
                        const DistillConfig& config) {
  MILLRACE_CHECK_ARG(teacher != nullptr, "AttachDistillation: no teacher");
  const TrainConfig& c = pipeline.config();
  MILLRACE_CHECK_ARG(!((config.cache_logits || teacher->caches()) && c.augment),
                     "the teacher's logits cache needs unaugmented inputs (--augment is on): a "
                     "sample's logits differ every epoch");
  if (config.cache_logits) teacher->set_cache(true);

  // The teacher's weights where it runs: the student's device ("compute"), the CPU ("cpu"),
  // or the GPU it is placed on.
  const std::string& where = config.teacher_placement;
  teacher->model().To(where == "cpu"       ? Device::Cpu()
                      : where == "compute" ? c.device
                                           : Device::Parse(where));
  auto ledger = std::make_shared<TeacherLedger>();
  pipeline.SetTeacher(
      [teacher, ledger](const Batch& batch) {
        ledger->Put(batch.seq, Fingerprint(batch.indices));
        return teacher->Logits(batch);
      },
      config.teacher_placement);
  pipeline.Replace("loss", std::make_unique<DistillLossStage>(config.loss, ledger));
}

std::shared_ptr<Teacher> MakeTeacher(const TrainConfig& config, int teacher_epochs,
                                     bool cache_logits) {
  const bool cache = cache_logits && !config.augment;
  if (!config.teacher_checkpoint.empty()) {
    return Teacher::FromCheckpoint(config.teacher_model, config.teacher_checkpoint, cache);
  }
  TrainConfig tc = config;
  tc.model = config.teacher_model;
  tc.epochs = teacher_epochs;
  tc.max_steps = 0;
  tc.prune = PruneConfig{};
  tc.teacher_checkpoint.clear();
  tc.checkpoint_dir.clear();
  tc.resume = false;
  tc.trace_path.clear();
  TrainingPipeline pipeline(tc);
  pipeline.Run();
  return std::make_shared<Teacher>(std::move(pipeline.model()), cache);
}

DistillConfig DistillConfigOf(const TrainConfig& config) {
  DistillConfig d;
  d.loss.alpha = config.distill_alpha;
  d.loss.temperature = config.distill_temperature;
  d.loss.label_smoothing = config.label_smoothing;
  d.teacher_placement = config.teacher_placement;
  return d;
}

}  // namespace millrace::pipelines
