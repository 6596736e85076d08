// Distillation in the training graph (pipelines/distillation.h): the distill-loss stage gets the
// teacher's logits of the very samples the student sees (the teacher running ahead on a cpu
// stage), uses them in the loss (checked against ops::DistillationLoss on logits recomputed by a
// second copy of the teacher), refuses logits of other samples, and the per-sample logits cache
// gives the same losses as recomputing while skipping the teacher after epoch 1.
#include "pipelines/distillation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "ops/loss/loss.h"
#include "ops/models.h"
#include "pipelines/data.h"
#include "pipelines/training.h"

namespace millrace::pipelines {
namespace {

TrainConfig SmallConfig() {
  TrainConfig c;
  c.model = "mlp-small";
  c.limit = 256;
  c.batch_size = 32;  // 8 steps per epoch
  c.epochs = 3;
  c.eval_each_epoch = false;
  c.deterministic = true;
  c.compute_threads = 1;
  c.seed = 5;
  return c;
}

bool HaveData() { return std::filesystem::exists(std::string(kDefaultDataDir)); }

// An untrained teacher is as good as a trained one for these checks: fixed weights.
std::shared_ptr<Teacher> MakeFixedTeacher(bool cache) {
  return std::make_shared<Teacher>(ops::MakeModel("mlp", 11), cache);
}

// Every step's loss, recorded after the loss stage.
std::vector<double> Losses(TrainingPipeline& pipeline) {
  auto losses = std::make_shared<std::vector<double>>();
  pipeline.InsertBefore("backward",
                        MakeComputeStage("record-loss", [losses](StepItem& item, TrainState&) {
                          losses->push_back(item.loss);
                        }));
  pipeline.Run();
  return *losses;
}

TEST(DistillationInGraph, JoinPairsTeacherAndStudentLogitsOfTheSameSamples) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  const ops::DistillationOptions options{.alpha = 0.7, .temperature = 3.0};
  TrainingPipeline student(SmallConfig());
  AttachDistillation(student, MakeFixedTeacher(false),
                     {.loss = options, .teacher_placement = "cpu"});  // runs ahead of the student
  ops::Sequential twin = ops::MakeModel("mlp", 11);  // the teacher's weights, for the check
  auto expected = std::make_shared<std::vector<double>>();
  int checked = 0;
  student.InsertBefore(
      "distill-loss", MakeComputeStage("check", [&](StepItem& item, TrainState&) {
        Tensor mine = twin.Forward(item.batch.images, ops::Mode::kEval);
        ASSERT_TRUE(item.teacher_logits.defined());
        ASSERT_EQ(item.teacher_logits.nbytes(), mine.nbytes());
        EXPECT_EQ(std::memcmp(item.teacher_logits.data<float>(), mine.data<float>(), mine.nbytes()),
                  0)
            << "batch " << item.batch.seq << " got the teacher's logits of other samples";
        expected->push_back(
            ops::DistillationLoss(item.logits, mine, item.batch.labels, options).loss);
        ++checked;
      }));
  const std::vector<double> losses = Losses(student);
  EXPECT_EQ(checked, 24);
  ASSERT_EQ(losses.size(), expected->size());
  for (size_t i = 0; i < losses.size(); ++i) EXPECT_EQ(losses[i], (*expected)[i]) << "step " << i;
}

// The student's weights after distillation in the graph equal those of a plain loop (teacher
// forward, student forward, distillation loss, backward, step) bit for bit, with the teacher on
// the student's compute device and on a cpu worker beside it.
TEST(DistillationInGraph, EqualsThePlainLoopBitForBit) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  const ops::DistillationOptions options{.alpha = 0.7, .temperature = 3.0};
  const TrainConfig config = SmallConfig();

  ops::InitComputeThread(Device::Cpu(), 1);
  TrainingPipeline plain(config);  // never run: its model, optimizer and schedule, fresh
  TrainState& state = plain.state();
  ops::Sequential teacher = ops::MakeModel("mlp", 11);
  const DataSource train = DataSource::Open(config, Split::kTrain);
  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    for (const auto& indices : train.EpochBatches(epoch)) {
      const Batch batch = train.MakeBatch(epoch, indices);
      Tensor teacher_logits = teacher.Forward(batch.images, ops::Mode::kEval);
      state.optimizer->ZeroGrad();
      Tensor logits = state.model->Forward(batch.images, ops::Mode::kTrain);
      state.model->Backward(
          ops::DistillationLoss(logits, teacher_logits, batch.labels, options).grad);
      state.optimizer->set_lr(state.base_lr * state.schedule->Factor(state.steps_done));
      state.optimizer->Step();
      ++state.steps_done;
    }
  }

  for (const char* placement : {"compute", "cpu"}) {
    TrainingPipeline student(config);
    AttachDistillation(student, MakeFixedTeacher(false),
                       {.loss = options, .teacher_placement = placement});
    student.Run();
    for (const char* name : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) {
      const ops::Parameter* a = student.model().FindParameter(name);
      const ops::Parameter* b = state.model->FindParameter(name);
      ASSERT_NE(a, nullptr) << name;
      EXPECT_EQ(std::memcmp(a->value.data<float>(), b->value.data<float>(), a->value.nbytes()), 0)
          << name << " (teacher on " << placement << "): the graph's weights differ";
    }
  }
}

TEST(DistillationInGraph, LogitsOfOtherSamplesAreRefused) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  TrainingPipeline student(SmallConfig());
  AttachDistillation(student, MakeFixedTeacher(false), {});
  student.InsertBefore("distill-loss", MakeComputeStage("swap", [](StepItem& item, TrainState&) {
                         if (item.batch.seq == 3)
                           std::swap(item.batch.indices[0], item.batch.indices[1]);
                       }));
  try {
    student.Run();
    FAIL() << "mismatched teacher logits accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("other samples"), std::string::npos) << e.what();
  }
}

TEST(DistillationInGraph, CachedTeacherLogitsGiveTheSameLossesAsRecomputing) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  const DistillConfig config{.loss = {.alpha = 0.9, .temperature = 4.0}};
  auto recomputing = MakeFixedTeacher(false);
  TrainingPipeline a(SmallConfig());
  AttachDistillation(a, recomputing, config);
  const std::vector<double> recomputed = Losses(a);

  auto caching = MakeFixedTeacher(false);
  TrainingPipeline b(SmallConfig());
  DistillConfig cached_config = config;
  cached_config.cache_logits = true;
  AttachDistillation(b, caching, cached_config);
  const std::vector<double> cached = Losses(b);

  ASSERT_EQ(recomputed.size(), 24u);
  ASSERT_EQ(cached.size(), 24u);
  // Epoch 1 is the same computation in both runs: bit-identical losses. Later epochs read
  // logits computed in another batch: oneDNN's GEMM may round a row differently depending on
  // its position in the batch (blocking), so the logits, and the losses, agree to float
  // rounding, not bit for bit.
  for (size_t i = 0; i < cached.size(); ++i) {
    if (i < 8) {
      EXPECT_EQ(cached[i], recomputed[i]) << "step " << i;
    } else {
      EXPECT_NEAR(cached[i], recomputed[i], 1e-6 * std::abs(recomputed[i])) << "step " << i;
    }
  }
  // Epoch 1 computed every batch; epochs 2 and 3 read the cache and skipped the teacher.
  EXPECT_EQ(recomputing->forwards(), 24);
  EXPECT_EQ(caching->forwards(), 8);
  EXPECT_EQ(caching->cache_hits(), 16);
}

// A cache file: the first run computes every batch once and writes the file when all 256
// samples are in it; a second run with the same teacher and data loads it and never runs the
// teacher, with losses bit-identical to the first run's; another teacher's run finds the file
// stale, recomputes and overwrites it.
TEST(DistillationInGraph, CacheFileSkipsTheTeacherInTheNextRun) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("millrace-teacher-cache-" + std::to_string(getpid()));
  std::filesystem::remove(file);
  const DistillConfig config{.loss = {.alpha = 0.9, .temperature = 4.0}};
  const TrainConfig c = SmallConfig();
  auto run = [&](std::shared_ptr<Teacher> teacher, std::string* stale, int64_t* loaded) {
    TrainingPipeline p(c);
    *loaded = teacher->UseCacheFile(file, Teacher::CacheKey(teacher->model(), c),
                                    p.train_samples(), stale);
    AttachDistillation(p, teacher, config);
    std::vector<double> losses = Losses(p);
    teacher->SaveCacheFile();
    return losses;
  };
  std::string stale;
  int64_t loaded = -1;
  auto first = MakeFixedTeacher(false);
  const std::vector<double> a = run(first, &stale, &loaded);
  EXPECT_EQ(loaded, 0);
  EXPECT_EQ(first->forwards(), 8);  // epoch 1 only
  ASSERT_TRUE(std::filesystem::exists(file));

  auto second = MakeFixedTeacher(false);
  const std::vector<double> b = run(second, &stale, &loaded);
  EXPECT_EQ(loaded, 256);
  EXPECT_TRUE(stale.empty()) << stale;
  EXPECT_EQ(second->forwards(), 0);
  EXPECT_EQ(second->cache_hits(), 24);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i;

  auto other = std::make_shared<Teacher>(ops::MakeModel("mlp", 12), false);
  run(other, &stale, &loaded);
  EXPECT_EQ(loaded, 0);
  EXPECT_NE(stale.find("another teacher"), std::string::npos) << stale;
  EXPECT_EQ(other->forwards(), 8);
  std::filesystem::remove(file);
}

// 250 samples in batches of 32: each epoch drops 26, so later epochs meet samples epoch 1 never
// saw. Only those rows go through the teacher (not their whole batches), each exactly once, and
// the losses agree with a teacher that recomputes every batch.
TEST(DistillationInGraph, APartlyCachedBatchForwardsOnlyItsMissingRows) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  TrainConfig c = SmallConfig();
  c.limit = 250;
  const DistillConfig config{.loss = {.alpha = 0.9, .temperature = 4.0}};
  auto recomputing = MakeFixedTeacher(false);
  TrainingPipeline a(c);
  AttachDistillation(a, recomputing, config);
  const std::vector<double> recomputed = Losses(a);
  auto caching = MakeFixedTeacher(true);
  TrainingPipeline b(c);
  AttachDistillation(b, caching, config);
  const std::vector<double> cached = Losses(b);
  ASSERT_EQ(cached.size(), recomputed.size());
  for (size_t i = 0; i < cached.size(); ++i) {
    EXPECT_NEAR(cached[i], recomputed[i], 1e-6 * std::abs(recomputed[i])) << "step " << i;
  }
  EXPECT_EQ(recomputing->forwarded_samples(), 3 * 7 * 32);
  EXPECT_EQ(caching->forwarded_samples(), caching->cached_samples());  // each sample once
  EXPECT_GT(caching->cached_samples(), 7 * 32);  // later epochs added the dropped ones
  EXPECT_LE(caching->cached_samples(), 250);
}

TEST(DistillationInGraph, CacheRefusesAugmentedInputs) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  TrainConfig c = SmallConfig();
  c.augment = true;
  TrainingPipeline student(c);
  DistillConfig config;
  config.cache_logits = true;
  EXPECT_THROW(AttachDistillation(student, MakeFixedTeacher(false), config), Error);
}

TEST(DistillationInGraph, DistillLossWithoutTeacherLogitsIsAnError) {
  ComputeStagePtr stage = MakeDistillLossStage({});
  StepItem item;
  item.logits = Tensor::Zeros({2, 10});
  TrainState state;
  EXPECT_THROW(stage->Run(item, state), Error);
}

}  // namespace
}  // namespace millrace::pipelines
