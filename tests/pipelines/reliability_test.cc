// Runs that last days: an interrupted run leaves a checkpoint of its current step that resumes
// bit-exactly, a non-finite loss stops the run naming the step (or is skipped and counted) and
// never replaces a good checkpoint, several checkpoints are kept, and unusable output paths
// fail before training.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ops/checkpoint/checkpoint.h"
#include "ops/checkpoint/history.h"
#include "ops/compute_thread.h"
#include "ops/models.h"
#include "pipelines/reference_loop.h"
#include "pipelines/training.h"

namespace millrace::pipelines {
namespace {

namespace fs = std::filesystem;

// mlp-small on the first 512 Fashion-MNIST images, batch 32: 16 steps per epoch.
TrainConfig SmallConfig(const fs::path& dir) {
  TrainConfig c;
  c.model = "mlp-small";
  c.limit = 512;
  c.batch_size = 32;
  c.epochs = 3;
  c.seed = 11;
  c.deterministic = true;
  c.compute_threads = 1;
  c.eval_each_epoch = false;
  c.augment = true;
  c.checkpoint_dir = dir.string();
  return c;
}

class Reliability : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("millrace_rel_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

bool SameWeights(TrainingPipeline& a, TrainingPipeline& b) {
  auto pa = a.model().Parameters(), pb = b.model().Parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i) {
    if (std::memcmp(pa[i]->value.raw_data(), pb[i]->value.raw_data(), pa[i]->value.nbytes()) !=
        0) {
      return false;
    }
  }
  ops::OptimizerState sa = a.state().optimizer->ExportState();
  ops::OptimizerState sb = b.state().optimizer->ExportState();
  for (size_t i = 0; i < sa.tensors.size(); ++i) {
    const Tensor &x = sa.tensors[i].second, &y = sb.tensors[i].second;
    if (std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0) return false;
  }
  return sa.scalars == sb.scalars;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(Reliability, InterruptedRunCheckpointsItsStepAndResumesBitExactly) {
  const TrainConfig c = SmallConfig(dir_);
  std::atomic<bool> interrupt{false};
  {
    TrainingPipeline first(c);
    // Stands in for SIGTERM: the flag turns true during step 20 (inside epoch 2).
    first.InsertBefore("forward", MakeComputeStage("signal", [&](StepItem&, TrainState& s) {
                         if (s.steps_done == 20) interrupt = true;
                       }));
    TrainHooks hooks;
    hooks.interrupt = &interrupt;
    try {
      first.Run(hooks);
      FAIL() << "the run was not interrupted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCancelled) << e.what();
      EXPECT_NE(std::string(e.what()).find("checkpoint of step 21"), std::string::npos)
          << e.what();
    }
  }
  ASSERT_TRUE(fs::exists(dir_ / "step-0000000021.safetensors"));
  TrainConfig resume = c;
  resume.resume = true;
  TrainingPipeline resumed(resume);
  EXPECT_EQ(resumed.state().steps_done, 21);
  EXPECT_EQ(resumed.Run().steps, 48 - 21);

  TrainConfig straight = c;
  straight.checkpoint_dir.clear();
  TrainingPipeline whole(straight);
  whole.Run();
  EXPECT_TRUE(SameWeights(resumed, whole));
}

TEST_F(Reliability, KeepsTheLastNStepCheckpointsAndClearsStaleTemporaries) {
  fs::create_directories(dir_);
  // A temporary file of a write whose process died (a child that has exited).
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const fs::path stale = dir_ / ("last.safetensors.tmp." + std::to_string(child));
  const fs::path live = dir_ / ("last.safetensors.tmp." + std::to_string(::getpid()));
  std::ofstream(stale) << "torn";
  std::ofstream(live) << "being written";
  TrainConfig c = SmallConfig(dir_);
  c.keep_checkpoints = 2;
  TrainingPipeline p(c);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));  // a live process's file is left alone
  fs::remove(live);
  p.Run();
  std::vector<fs::path> steps = ops::StepCheckpoints(dir_);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].filename(), "step-0000000032.safetensors");
  EXPECT_EQ(steps[1].filename(), "step-0000000048.safetensors");
  EXPECT_EQ(fs::file_size(dir_ / "last.safetensors"), fs::file_size(steps[1]));
}

// Loss NaN at one step (a stage after the loss poisons it, as an fp16 overflow would).
ComputeStagePtr PoisonStep(int64_t step) {
  return MakeComputeStage("poison-" + std::to_string(step), [step](StepItem& item, TrainState& state) {
    if (state.steps_done == step) item.loss = std::numeric_limits<double>::quiet_NaN();
  });
}

TEST_F(Reliability, NonFiniteLossStopsNamingTheStepAndKeepsTheGoodCheckpoint) {
  TrainConfig c = SmallConfig(dir_);
  TrainingPipeline p(c);
  p.InsertBefore("backward", PoisonStep(37));
  try {
    p.Run();
    FAIL() << "a NaN loss was trained on";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_EQ(e.stage(), "loss") << e.what();
    EXPECT_NE(std::string(e.what()).find("at step 37"), std::string::npos) << e.what();
  }
  // The checkpoint of epoch 2 (step 32) is still the last one; no later one was written.
  EXPECT_EQ(ops::StepCheckpoints(dir_).back().filename(), "step-0000000032.safetensors");
}

TEST_F(Reliability, NonFiniteLossCanBeSkippedAndCounted) {
  TrainConfig c = SmallConfig(dir_);
  c.on_nonfinite = NonFinitePolicy::kSkip;
  TrainingPipeline p(c);
  p.InsertBefore("backward", PoisonStep(5));
  p.InsertBefore("backward", PoisonStep(9));
  TrainResult r = p.Run();
  EXPECT_EQ(r.steps, 48);
  EXPECT_EQ(p.state().nonfinite_skipped, 2);
  for (ops::Parameter* param : p.model().Parameters()) {
    for (float v : param->value.span<float>()) ASSERT_TRUE(std::isfinite(v)) << param->name;
  }
}

// An Inf in the loss's gradient at one step (the loss itself finite): backward carries it into
// the parameters' gradients, where the check after backward finds it.
ComputeStagePtr PoisonGradient(int64_t step) {
  return MakeComputeStage("poison-grad-" + std::to_string(step), [step](StepItem& item,
                                                                      TrainState& state) {
    if (state.steps_done == step) item.dlogits.data<float>()[3] = INFINITY;
  });
}

TEST_F(Reliability, NonFiniteGradientStopsAtBackwardNamingTheStep) {
  TrainingPipeline p(SmallConfig(dir_));
  p.InsertBefore("backward", PoisonGradient(21));
  try {
    p.Run();
    FAIL() << "an Inf gradient was stepped on";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_EQ(e.stage(), "backward") << e.what();
    EXPECT_NE(std::string(e.what()).find("at step 21"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("gradient"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ops::StepCheckpoints(dir_).back().filename(), "step-0000000016.safetensors");
  for (ops::Parameter* param : p.model().Parameters()) {  // no update from the Inf step
    for (float v : param->value.span<float>()) ASSERT_TRUE(std::isfinite(v)) << param->name;
  }
}

TEST_F(Reliability, NonFiniteGradientCanBeSkippedAndCounted) {
  TrainConfig c = SmallConfig(dir_);
  c.on_nonfinite = NonFinitePolicy::kSkip;
  TrainingPipeline p(c);
  p.InsertBefore("backward", PoisonGradient(3));
  p.InsertBefore("backward", PoisonGradient(30));
  EXPECT_EQ(p.Run().steps, 48);
  EXPECT_EQ(p.state().nonfinite_skipped, 2);
  for (ops::Parameter* param : p.model().Parameters()) {
    for (float v : param->value.span<float>()) ASSERT_TRUE(std::isfinite(v)) << param->name;
  }
}

// A learning rate of 10^6 diverges: the run stops with the step named, the weights of the
// last good checkpoint stay on disk, and non-finite weights are refused by SaveCheckpoint.
TEST_F(Reliability, HugeLearningRateStopsAndLeavesTheGoodCheckpoint) {
  TrainConfig c = SmallConfig(dir_);
  c.epochs = 1;
  TrainingPipeline(c).Run();
  const std::string good = ReadFile(dir_ / "last.safetensors");
  TrainConfig diverge = c;
  diverge.epochs = 3;
  diverge.resume = true;
  diverge.optimizer.lr = 1e6f;
  TrainingPipeline p(diverge);
  try {
    p.Run();
    FAIL() << "lr 1e6 trained on without a word";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_NE(std::string(e.what()).find("at step"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ReadFile(dir_ / "last.safetensors"), good);
  // And the model now holding non-finite values can't be saved.
  p.model().Parameters()[0]->value.data<float>()[0] = std::nanf("");
  EXPECT_THROW(ops::SaveCheckpoint(dir_ / "x.safetensors", p.model(), nullptr, {}), Error);
  EXPECT_FALSE(fs::exists(dir_ / "x.safetensors"));
}

// best.safetensors: the weights of the epoch with the highest validation accuracy (the first
// of equals), written from that epoch's snapshot, never pruned by keep_checkpoints, and kept
// across a resume unless a later epoch beats it.
TEST_F(Reliability, KeepsTheBestEpochByValidationAccuracyAcrossAResume) {
  TrainConfig c = SmallConfig(dir_);
  c.validation = 256;
  c.epochs = 2;
  c.keep_checkpoints = 1;
  c.optimizer.lr = 0.3f;  // a bumpy run: the best epoch need not be the last
  std::vector<EpochSummary> epochs;
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochSummary& e) { epochs.push_back(e); };
  TrainResult first = TrainingPipeline(c).Run(hooks);
  TrainConfig more = c;
  more.epochs = 4;
  more.resume = true;
  TrainingPipeline resumed(more);
  TrainResult second = resumed.Run(hooks);
  ASSERT_EQ(epochs.size(), 4u);

  size_t best = 0;
  for (size_t i = 1; i < epochs.size(); ++i) {
    if (epochs[i].validation.accuracy > epochs[best].validation.accuracy) best = i;
  }
  const int best_epoch = static_cast<int>(best) + 1;
  EXPECT_EQ(best_epoch <= 2 ? first.best_epoch : second.best_epoch, best_epoch);
  if (best_epoch <= 2) {
    EXPECT_EQ(second.best_epoch, 0);  // not replaced by a worse epoch
  }
  ASSERT_TRUE(fs::exists(dir_ / "best.safetensors"));
  EXPECT_EQ(ops::StepCheckpoints(dir_).size(), 1u);  // keep 1: best is not a step file

  // The file holds that epoch's weights: evaluated again, the same accuracy.
  ops::Sequential model = ops::MakeModel(c.model, 99);
  const ops::TrainingState state = ops::LoadCheckpoint(dir_ / "best.safetensors", model, nullptr);
  EXPECT_EQ(state.step, best_epoch * 16);
  EXPECT_EQ(state.metadata.at("epoch"), std::to_string(best_epoch));
  EXPECT_EQ(state.metadata.at("best_by"), "validation accuracy");
  ops::InitComputeThread(Device::Cpu(), 1);
  const DataSource train = DataSource::Open(c, Split::kTrain);
  const DataSource validation(train.shared(), Split::kValidation, c);
  EXPECT_EQ(EvaluatePlain(model, validation).Accuracy(), epochs[best].validation.accuracy);
}

TEST_F(Reliability, UnusableOutputPathsFailBeforeTraining) {
  TrainConfig c = SmallConfig("/proc/millrace-cannot-write-here");
  try {
    TrainingPipeline p(c);
    FAIL() << "an unusable checkpoint dir was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
    EXPECT_NE(std::string(e.what()).find("--checkpoint-dir"), std::string::npos) << e.what();
  }
  c = SmallConfig(dir_);
  c.trace_path = "/nonexistent-dir/trace.json";
  EXPECT_THROW(TrainingPipeline p(c), Error);
  c.trace_path = dir_.string();  // a directory
  fs::create_directories(dir_);
  EXPECT_THROW(TrainingPipeline p(c), Error);
}

}  // namespace
}  // namespace millrace::pipelines
