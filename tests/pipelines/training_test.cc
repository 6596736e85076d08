// The training graph against the plain sequential loop: exact synchronous SGD (bit-identical
// weights and optimizer state after a few hundred steps, deterministic mode, one oneDNN
// thread), resume from a checkpoint, the compute-stage list, and the evaluation graph.
#include "pipelines/training.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "io/convert.h"
#include "io/idx.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "ops/models.h"
#include "pipelines/evaluation.h"
#include "pipelines/reference_loop.h"
#include "tests/common/same_bits.h"

namespace millrace::pipelines {
namespace {

// mlp-small on the first 2,048 Fashion-MNIST images, batch 32: 64 steps per epoch.
TrainConfig SmallConfig() {
  TrainConfig c;
  c.model = "mlp-small";
  c.limit = 2048;
  c.test_limit = 1000;
  c.batch_size = 32;
  c.epochs = 4;  // 256 steps
  c.seed = 7;
  c.deterministic = true;
  c.compute_threads = 1;
  c.eval_each_epoch = false;
  c.augment = true;  // crop + flip: the batches must match too
  c.concurrency["augment"] = 2;
  return c;
}

using testing::SameBits;

void ExpectSameWeights(TrainingPipeline& a, TrainingPipeline& b) {
  std::vector<ops::Parameter*> pa = a.model().Parameters(), pb = b.model().Parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(SameBits(pa[i]->value, pb[i]->value)) << pa[i]->name << " differs";
  }
  ops::OptimizerState sa = a.state().optimizer->ExportState();
  ops::OptimizerState sb = b.state().optimizer->ExportState();
  ASSERT_EQ(sa.tensors.size(), sb.tensors.size());
  for (size_t i = 0; i < sa.tensors.size(); ++i) {
    EXPECT_TRUE(SameBits(sa.tensors[i].second, sb.tensors[i].second)) << sa.tensors[i].first;
  }
  EXPECT_EQ(sa.scalars, sb.scalars);
}

// The plain loop over the same batches, on this thread with the same oneDNN thread count.
std::vector<double> RunReference(const TrainConfig& c, TrainingPipeline& reference) {
  ops::InitComputeThread(Device::Cpu(), 1);
  DataSource train = DataSource::Open(c, Split::kTrain);
  return ReferenceTrain(train, reference.state(), c.epochs, c.max_steps);
}

// Runs `pipeline`, appending every epoch's summary to `seen` as it is reported.
TrainResult RunSeeingEpochs(TrainingPipeline& pipeline, std::vector<EpochSummary>& seen) {
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochSummary& e) { seen.push_back(e); };
  return pipeline.Run(hooks);
}

TEST(TrainingGraph, SgdMatchesThePlainLoopBitForBit) {
  const TrainConfig c = SmallConfig();
  TrainingPipeline graph(c);
  TrainResult r = graph.Run();
  EXPECT_EQ(r.steps, 256);
  EXPECT_EQ(graph.state().steps_done, 256);

  TrainingPipeline reference(c);
  const std::vector<double> losses = RunReference(c, reference);
  ASSERT_EQ(losses.size(), 256u);
  EXPECT_LT(losses.back(), losses.front());  // it did learn something
  ExpectSameWeights(graph, reference);
}

TEST(TrainingGraph, AdamWWithWarmupAndStepScheduleMatchesThePlainLoop) {
  TrainConfig c = SmallConfig();
  c.model = "mlp";
  c.epochs = 2;
  c.max_steps = 100;  // stops inside epoch 2
  c.optimizer.name = "adamw";
  c.optimizer.lr = 1e-3f;
  c.optimizer.weight_decay = 0.01f;
  c.optimizer.schedule = "step";
  c.optimizer.step_every = 30;
  c.optimizer.warmup_steps = 10;
  TrainingPipeline graph(c);
  EXPECT_EQ(graph.Run().steps, 100);
  TrainingPipeline reference(c);
  EXPECT_EQ(RunReference(c, reference).size(), 100u);
  ExpectSameWeights(graph, reference);
}

TEST(TrainingGraph, LabelSmoothingMatchesThePlainLoopAndChangesTheRun) {
  TrainConfig c = SmallConfig();
  c.epochs = 1;
  c.label_smoothing = 0.1f;
  TrainingPipeline graph(c);
  graph.Run();
  TrainingPipeline reference(c);
  RunReference(c, reference);
  ExpectSameWeights(graph, reference);

  c.label_smoothing = 0.0f;
  TrainingPipeline plain(c);
  plain.Run();
  const ops::Parameter* smoothed = graph.model().Parameters().front();
  const ops::Parameter* unsmoothed = plain.model().Parameters().front();
  EXPECT_FALSE(SameBits(smoothed->value, unsmoothed->value)) << "the smoothing was not applied";
}

TEST(TrainingGraph, ResumeFromACheckpointContinuesExactly) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("millrace_resume_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  TrainConfig c = SmallConfig();
  c.epochs = 2;
  c.checkpoint_dir = dir.string();
  {
    TrainConfig first = c;
    first.max_steps = 64;  // epoch 1 only; its end writes last.safetensors
    TrainingPipeline p(first);
    p.Run();
  }
  ASSERT_TRUE(std::filesystem::exists(dir / "last.safetensors"));
  TrainConfig resume = c;
  resume.resume = true;
  resume.checkpoint_dir = dir.string();
  TrainingPipeline resumed(resume);
  EXPECT_EQ(resumed.state().steps_done, 64);
  EXPECT_EQ(resumed.Run().steps, 64);

  TrainConfig straight = c;
  straight.checkpoint_dir.clear();
  TrainingPipeline whole(straight);
  whole.Run();
  ExpectSameWeights(resumed, whole);
  std::filesystem::remove_all(dir);
}

TEST(TrainingGraph, ComputeStagesCanBeInsertedAndReplaced) {
  TrainConfig c = SmallConfig();
  c.epochs = 1;
  c.max_steps = 20;
  TrainingPipeline graph(c);
  EXPECT_EQ(graph.ComputeStageNames(),
            (std::vector<std::string>{"forward", "loss", "backward", "prune-mask", "step"}));
  int calls = 0;
  int64_t last_seq = -1;
  graph.InsertBefore("step", MakeComputeStage("count", [&](StepItem& item, TrainState& s) {
                       ++calls;
                       EXPECT_EQ(item.batch.seq, last_seq + 1);  // sequence order
                       EXPECT_EQ(s.steps_done, item.batch.seq);  // before this batch's step
                       last_seq = item.batch.seq;
                     }));
  EXPECT_THROW(graph.InsertBefore("nope", MakeComputeStage("x", [](StepItem&, TrainState&) {})),
               Error);
  // Each compute stage is a graph stage: a second "count" is refused when it is inserted.
  EXPECT_THROW(graph.InsertBefore("step", MakeComputeStage("count", [](StepItem&, TrainState&) {})),
               Error);
  TrainResult r = graph.Run();
  EXPECT_EQ(calls, 20);
  bool reported = false;
  for (const StageFigures& s : r.stages) reported |= s.name == "count" && s.items == 20;
  EXPECT_TRUE(reported) << r.stage_report;
  EXPECT_NE(r.stage_report.find("bottleneck"), std::string::npos);

  TrainingPipeline reference(c);
  RunReference(c, reference);
  ExpectSameWeights(graph, reference);  // the counting stage changed nothing
}

TEST(TrainingGraph, EpochEndsReportTestAccuracyFromTheSnapshot) {
  TrainConfig c = SmallConfig();
  c.epochs = 2;
  c.eval_each_epoch = true;
  TrainingPipeline graph(c);
  std::vector<EpochSummary> seen;
  TrainResult r = RunSeeingEpochs(graph, seen);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].epoch, 1);
  EXPECT_EQ(seen[1].epoch, 2);
  EXPECT_TRUE(seen[1].test.done);
  EXPECT_EQ(seen[1].test.samples, 1000);
  ASSERT_TRUE(r.final_test.has_value());
  // The last snapshot is the final weights: evaluating them directly gives the same figures.
  ops::InitComputeThread(Device::Cpu(), 1);
  DataSource test = DataSource::Open(c, Split::kTest);
  ClassificationMetrics direct = EvaluatePlain(graph.model(), test);
  EXPECT_EQ(direct.correct(), r.final_test->correct());
  EXPECT_DOUBLE_EQ(direct.Accuracy(), seen[1].test.accuracy);
  EXPECT_GT(seen[1].test.accuracy, 0.6);  // 2 epochs on 2,048 images: well above chance
}

TEST(TrainingGraph, ValidationSplitIsHeldOutAndEvaluatedEachEpoch) {
  TrainConfig c = SmallConfig();
  c.epochs = 2;
  c.validation = 500;  // the last 500 of the 60,000 training images
  const DataSource train = DataSource::Open(c, Split::kTrain);
  const DataSource validation = DataSource::Open(c, Split::kValidation);
  EXPECT_EQ(train.size(), 2048);  // --limit still cuts the records before the split
  EXPECT_EQ(validation.size(), 500);
  EXPECT_EQ(validation.first(), 59500);
  const io::Sample first = validation.Read(0);
  const io::Sample direct = validation.dataset().Read(59500);
  EXPECT_EQ(first.index, 59500);
  EXPECT_EQ(first.label, direct.label);
  EXPECT_TRUE(SameBits(first.image, direct.image));
  c.limit = 0;
  EXPECT_EQ(DataSource::Open(c, Split::kTrain).size(), 59500);  // never trained on
  c.limit = 2048;

  TrainingPipeline graph(c);
  std::vector<EpochSummary> seen;
  TrainResult r = RunSeeingEpochs(graph, seen);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].validation.done);
  EXPECT_FALSE(seen[1].test.done);  // eval_each_epoch is off: no test set
  EXPECT_EQ(seen[1].validation.samples, 500);
  ASSERT_TRUE(r.final_validation.has_value());
  EXPECT_FALSE(r.final_test.has_value());
  ops::InitComputeThread(Device::Cpu(), 1);
  ClassificationMetrics plain = EvaluatePlain(graph.model(), validation);
  EXPECT_EQ(plain.correct(), r.final_validation->correct());
  EXPECT_DOUBLE_EQ(plain.Accuracy(), seen[1].validation.accuracy);
  EXPECT_GT(seen[1].validation.accuracy, 0.6);

  c.validation = 60000;
  try {
    DataSource::Open(c, Split::kTrain);
    FAIL() << "a validation split of the whole training set was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--validation 60000"), std::string::npos) << e.what();
  }
}

TEST(TrainingGraph, TarShardsOfLosslessImagesTrainLikeTheIdxFiles) {
  // The first 2,048 training and 1,000 test images as PNG tar shards: the same pixels, labels
  // and record numbers as the IDX files, so the same batches and the same weights.
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("millrace_tar_" + std::to_string(getpid()));
  TrainConfig c = SmallConfig();
  c.epochs = 1;
  c.eval_each_epoch = true;
  for (const char* split : {"train", "test"}) {
    const io::IdxDataset idx = io::IdxDataset::FashionMnist(split, c.data_dir);
    io::WriteTarShards(idx, (root / split).string(),
                       {.format = io::ImageFormat::kPng,
                        .samples_per_shard = 500,
                        .limit = std::string(split) == "train" ? c.limit : c.test_limit});
  }
  TrainingPipeline from_idx(c);
  TrainResult a = from_idx.Run();
  TrainConfig t = c;
  t.data_format = "tar";
  t.data_dir = root.string();
  TrainingPipeline from_tar(t);
  TrainResult b = from_tar.Run();
  std::filesystem::remove_all(root);
  EXPECT_EQ(b.steps, a.steps);
  ExpectSameWeights(from_idx, from_tar);
  ASSERT_TRUE(a.final_test && b.final_test);
  EXPECT_EQ(b.final_test->samples(), 1000);
  EXPECT_EQ(b.final_test->correct(), a.final_test->correct());
}

// 100 blank 2x2 images with labels label_of(i).
class LabelledBlanks final : public io::IndexedDataset {
 public:
  explicit LabelledBlanks(std::function<int64_t(int64_t)> label_of)
      : label_of_(std::move(label_of)) {}
  int64_t size() const override { return 100; }
  int64_t num_classes() const override { return 10; }
  io::Sample Read(int64_t index) const override {
    return {Tensor::Zeros({1, 2, 2}, DType::kU8), label_of_(index), index};
  }

 private:
  std::function<int64_t(int64_t)> label_of_;
};

TEST(TrainingGraph, ValidationSplitOfRecordsOrderedByClassIsRefused) {
  TrainConfig c;
  c.batch_size = 8;
  c.validation = 20;
  // Class after class, as an image tree lists them: the tail holds classes 8 and 9 only.
  auto sorted = std::make_shared<LabelledBlanks>([](int64_t i) { return i / 10; });
  try {
    DataSource refused(sorted, Split::kValidation, c);
    FAIL() << "a held-out tail of two classes was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("hold 2 of the 8 classes"), std::string::npos) << e.what();
  }
  // Mixed order: every class in the tail.
  auto mixed = std::make_shared<LabelledBlanks>([](int64_t i) { return i % 10; });
  const DataSource validation(mixed, Split::kValidation, c);
  EXPECT_EQ(validation.size(), 20);
  EXPECT_EQ(validation.Read(0).index, 80);
}

TEST(TrainingGraph, TraceHoldsEveryStageAndEveryComputeStage) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("millrace_trace_" + std::to_string(getpid()));
  TrainConfig c = SmallConfig();
  c.epochs = 1;
  c.max_steps = 10;
  c.trace_path = path.string();
  TrainingPipeline graph(c);
  graph.Run();
  std::ifstream in(path);
  const nlohmann::json doc = nlohmann::json::parse(in);
  std::map<std::string, int> spans;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") ++spans[e["name"].get<std::string>()];
  }
  for (const char* stage : {"read", "augment", "collate"}) {
    EXPECT_GT(spans[stage], 0) << stage;
  }
  // The compute stages are graph stages on the ordered device: one task, one span per batch.
  for (const char* stage : {"forward", "loss", "backward", "prune-mask", "step", "progress"}) {
    EXPECT_EQ(spans[stage], 10) << stage;
  }
  std::filesystem::remove(path);
}

TEST(EvaluationGraph, EqualsThePlainLoop) {
  TrainConfig c = SmallConfig();
  c.test_limit = 777;  // a partial last batch
  c.batch_size = 100;
  ops::Sequential model = ops::MakeModel("mlp-small", 3);
  DataSource test = DataSource::Open(c, Split::kTest);
  EvalResult g =
      EvaluateGraph(model, test, {.compute_threads = 1, .capacity = 4, .trace_path = ""});
  ops::InitComputeThread(Device::Cpu(), 1);
  ClassificationMetrics plain = EvaluatePlain(model, test);
  EXPECT_EQ(g.metrics.samples(), 777);
  EXPECT_EQ(g.metrics.correct(), plain.correct());
  EXPECT_DOUBLE_EQ(g.metrics.MeanLoss(), plain.MeanLoss());
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j < 10; ++j) EXPECT_EQ(g.metrics.Count(i, j), plain.Count(i, j));
  }
  EXPECT_NE(g.stage_report.find("forward"), std::string::npos);
}

TEST(TrainingPipeline, BadOptionsAreNamed) {
  TrainConfig c = SmallConfig();
  c.data_dir = "/nonexistent/fmnist";
  try {
    TrainingPipeline p(c);
    FAIL() << "a missing dataset directory was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fmnist"), std::string::npos);
  }
  c = SmallConfig();
  c.model = "resnet";
  try {
    TrainingPipeline p(c);
    FAIL() << "an unknown model was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("dwsep"), std::string::npos) << e.what();
  }
  c = SmallConfig();
  c.concurrency["forward"] = 2;
  TrainingPipeline p(c);
  EXPECT_THROW(p.Run(), Error);
}

}  // namespace
}  // namespace millrace::pipelines
