// Knowledge distillation in the training graph (Hinton, Vinyals & Dean, 2015): a frozen teacher
// computes soft labels for each batch in its own stage, ahead of the student, and a
// "distill-loss" compute stage replaces the student's cross-entropy with
//   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(labels).
//
//   read -> augment -> collate -> teacher (cpu or compute) -> train: forward -> distill-loss
//                                    |                                 ^  -> backward -> ...
//                                    +-- logits of batch seq k --------+  (same item, seq k)
//                                    |
//                                 [cache: logits per sample index, filled in epoch 1;
//                                  later epochs read it and skip the teacher's forward]
//
// The teacher stage runs batch k+1 while the student trains on batch k (its weights are
// frozen, so this overlap changes nothing). Its logits travel with the batch they were computed
// from (the graph hands items on in sequence order), and distill-loss checks that they are that
// batch's: same sequence number, same samples.
//
//   auto teacher = Teacher::FromCheckpoint("cnn", "teacher.safetensors");
//   TrainingPipeline student(config);                     // config.model = "mlp-small"
//   AttachDistillation(student, teacher, {.loss = {.alpha = 0.9, .temperature = 4}});
//   student.Run();
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ops/loss/loss.h"
#include "ops/sequential.h"
#include "pipelines/step.h"
#include "pipelines/train_config.h"

namespace millrace::pipelines {

class TrainingPipeline;

// A frozen teacher: a model run in eval mode, and optionally a cache of its logits per sample
// (by dataset index). Use the cache only where a sample's input is the same every epoch (no
// augmentation): the logits of a sample are then the same every epoch, and a batch whose samples
// are all cached skips the forward. Logits() is called by one thread at a time (the teacher
// stage); the counters may be read from any thread.
class Teacher {
 public:
  // `model`: the trained teacher; `cache_logits`: keep each sample's logits.
  explicit Teacher(ops::Sequential model, bool cache_logits = false);
  // A preset loaded from a training checkpoint (ops/checkpoint/checkpoint.h); throws
  // Error(kIo/kData) naming the file.
  static std::shared_ptr<Teacher> FromCheckpoint(const std::string& model_name,
                                                 const std::string& path,
                                                 bool cache_logits = false);

  // The teacher's logits f32 [B, classes] for a batch: from the cache when every sample of the
  // batch is there; else by a forward of the rows not cached (all of them while the cache is
  // empty), which are then cached.
  Tensor Logits(const Batch& batch);
  // The forward alone, never cached.
  Tensor Forward(const Tensor& images);

  // A file for the cache, reused across runs: loaded now when it exists and was written for
  // `key` (CacheKey: the teacher's weights and the data); written (atomically) as soon as all
  // `samples` of the training split are cached, and by SaveCacheFile(). Turns the cache on.
  // Returns how many samples it loaded (0 for a new file, or a file of another teacher or data,
  // which `stale` then explains and which is overwritten). Throws Error(kData/kIo) naming the
  // file when it exists but cannot be read.
  int64_t UseCacheFile(std::string path, std::string key, int64_t samples, std::string* stale);
  // Writes the cache file now if it has rows the file lacks (called after a run that ended
  // before every sample was cached). No-op without a cache file.
  void SaveCacheFile();
  // A key for UseCacheFile: a hash of the teacher's weights and buffers, the model's name and
  // the data's location, format, limit and split.
  static std::string CacheKey(ops::Sequential& model, const TrainConfig& config);

  ops::Sequential& model() { return model_; }
  bool caches() const { return cache_logits_; }
  int64_t cached_samples() const { return cached_count_; }
  void set_cache(bool on) { cache_logits_ = on; }                          // before the run
  int64_t forwards() const { return forwards_.load(); }                    // batches computed
  int64_t forwarded_samples() const { return forwarded_samples_.load(); }  // rows of them
  int64_t cache_hits() const { return cache_hits_.load(); }  // batches read from the cache

 private:
  ops::Sequential model_;
  bool Cached(const std::vector<int64_t>& indices) const;
  // The logits of a batch whose rows `missing` are not cached: a forward of those rows alone.
  Tensor PartlyCached(const Batch& batch, const std::vector<int64_t>& missing);

  bool cache_logits_ = false;
  int64_t classes_ = 0;
  std::vector<float> cache_;  // [samples, classes], rows by dataset index
  std::vector<bool> cached_;  // per dataset index
  int64_t cached_count_ = 0;
  // The cache file, its key, the training split's size, and rows not yet in the file.
  std::string file_, file_key_;
  int64_t file_samples_ = 0;
  bool file_dirty_ = false;
  std::atomic<int64_t> forwards_{0};
  std::atomic<int64_t> forwarded_samples_{0};
  std::atomic<int64_t> cache_hits_{0};
};

struct DistillConfig {
  ops::DistillationOptions loss;  // alpha, temperature
  bool cache_logits = false;      // cache the teacher's logits after epoch 1
  // Where the teacher's forward runs: "compute" (the student's device thread, its weights on
  // the student's device), "cpu" (a cpu worker through oneDNN, beside a student anywhere), or
  // "cuda:N" (that GPU, beside a student anywhere).
  std::string teacher_placement = "compute";
};

// The "distill-loss" compute stage: the loss above from item.logits, item.teacher_logits and the
// labels. Throws Error(kInternal) when the teacher's logits are missing or belong to another
// batch.
ComputeStagePtr MakeDistillLossStage(const ops::DistillationOptions& options);

// Adds `teacher` to the pipeline (its stage between collate and the student) and replaces the
// student's "loss" with distill-loss. config.cache_logits turns the teacher's cache on; a cache
// needs the pipeline's config.augment off (throws Error(kInvalidArgument) otherwise).
void AttachDistillation(TrainingPipeline& pipeline, std::shared_ptr<Teacher> teacher,
                        const DistillConfig& config);

// The teacher for a student config: loaded from config.teacher_checkpoint (a checkpoint of
// config.teacher_model) when given, else trained first in this process on the same data with
// `teacher_epochs` epochs (same seed, optimizer and schedule as the student's config). The
// teacher caches its logits when `cache_logits` (and the config does not augment).
std::shared_ptr<Teacher> MakeTeacher(const TrainConfig& config, int teacher_epochs,
                                     bool cache_logits);

// DistillConfig from the command line's fields of TrainConfig (alpha, temperature).
DistillConfig DistillConfigOf(const TrainConfig& config);

}  // namespace millrace::pipelines
