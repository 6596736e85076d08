// Training on a GPU against training on the CPU: the same batches, the same initial weights, the
// step's losses within the tolerance of a different summation order; a checkpoint written from
// the GPU loads on the CPU; a teacher on the CPU beside a student on the GPU (mixed placement)
// trains like both on the CPU; evaluation on the GPU counts what the CPU counts. Each test skips,
// saying why, where no GPU answers or the build has no CUDA backend.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/memory.h"
#include "ops/activation/dropout.h"
#include "ops/checkpoint/checkpoint.h"
#include "ops/compute_thread.h"
#include "ops/linear/linear.h"
#include "ops/models.h"
#include "pipelines/distillation.h"
#include "pipelines/evaluation.h"
#include "pipelines/step_graph.h"
#include "pipelines/training.h"

namespace millrace::pipelines {
namespace {

// Empty when cuda:0 can train, else why not.
std::string CudaMissing() {
  try {
    ops::CheckComputeDevice(Device::Cuda(0));
  } catch (const Error& e) {
    return e.message();
  }
  if (!std::filesystem::exists(std::string(kDefaultDataDir))) {
    return "Fashion-MNIST is not installed at " + std::string(kDefaultDataDir);
  }
  return {};
}

#define SKIP_WITHOUT_CUDA()                \
  do {                                     \
    const std::string why = CudaMissing(); \
    if (!why.empty()) GTEST_SKIP() << why; \
  } while (0)

TrainConfig Config(const std::string& model, Device device) {
  TrainConfig c;
  c.model = model;
  c.limit = 2048;
  c.test_limit = 512;
  c.batch_size = 32;
  c.epochs = 4;
  c.max_steps = model == "mlp-small" ? 256 : 96;
  c.seed = 7;
  c.deterministic = true;  // the same batches in the same order on both devices
  c.compute_threads = 1;
  c.eval_each_epoch = false;
  c.device = device;
  c.precision = ops::Precision::kFp32;  // the CPU's arithmetic: TF32 and bf16 are tested below
  return c;
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

// |a - b| <= tol (1 + |b|) for every element, compared on the host.
void ExpectClose(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  const Tensor ha = a.To(Device::Cpu()), hb = b.To(Device::Cpu());
  ASSERT_EQ(ha.shape(), hb.shape()) << what;
  int reported = 0;
  for (int64_t i = 0; i < ha.numel(); ++i) {
    const double x = ha.data<float>()[i], y = hb.data<float>()[i];
    if (std::fabs(x - y) > tol * (1 + std::fabs(y)) && reported++ < 3) {
      ADD_FAILURE() << what << "[" << i << "] = " << x << " on the GPU, " << y << " on the CPU";
    }
  }
}

// A few hundred steps of each preset follow the CPU's loss curve: every step's loss within 2%
// (float sums in another order drift slowly apart; a wrong kernel is off by far more from the
// first step), and the weights end close.
TEST(CudaTraining, EveryPresetFollowsTheCpuLossCurve) {
  SKIP_WITHOUT_CUDA();
  for (const std::string model : {"mlp-small", "mlp", "cnn", "dwsep"}) {
    TrainingPipeline cpu(Config(model, Device::Cpu()));
    TrainingPipeline gpu(Config(model, Device::Cuda(0)));
    const std::vector<double> want = Losses(cpu), got = Losses(gpu);
    ASSERT_EQ(got.size(), want.size()) << model;
    ASSERT_FALSE(want.empty()) << model;
    EXPECT_NEAR(got.front(), want.front(), 1e-4 * (1 + want.front())) << model << " step 0";
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 0.02 * want[i]) << model << " step " << i;
    }
    EXPECT_LT(got.back(), got.front()) << model << ": it learned nothing";
    std::vector<ops::Parameter*> pg = gpu.model().Parameters(), pc = cpu.model().Parameters();
    ASSERT_EQ(pg.size(), pc.size());
    for (size_t i = 0; i < pg.size(); ++i) {
      EXPECT_TRUE(pg[i]->value.device().is_cuda()) << pg[i]->name;
      ExpectClose(pg[i]->value, pc[i]->value, 5e-2, model + " " + pg[i]->name);
    }
  }
}

// TF32 (the default on CUDA) and bf16 autocast learn as FP32 does: every step's loss within a few
// percent of the FP32 run's on the same batches, and the run learns. (The end-to-end figure,
// test accuracy within 0.2 points over full runs, is measured by `millrace train --precision`,
// docs/PRECISION.md.)
TEST(CudaTraining, Tf32AndBf16FollowTheFp32LossCurve) {
  SKIP_WITHOUT_CUDA();
  for (const std::string model : {"mlp", "cnn"}) {
    TrainingPipeline fp32(Config(model, Device::Cuda(0)));
    const std::vector<double> want = Losses(fp32);
    for (ops::Precision precision : {ops::Precision::kTf32, ops::Precision::kBf16}) {
      TrainConfig c = Config(model, Device::Cuda(0));
      c.precision = precision;
      TrainingPipeline run(c);
      const std::vector<double> got = Losses(run);
      const std::string what = model + " " + std::string(ops::PrecisionName(precision));
      ASSERT_EQ(got.size(), want.size()) << what;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 0.05 * want[i]) << what << " step " << i;
      }
      EXPECT_LT(got.back(), got.front()) << what << ": it learned nothing";
    }
  }
}

// The allocator reaches a steady state: after the first epoch, training allocates nothing more
// from the device (every step's tensors come from the cache).
TEST(CudaTraining, NoDeviceAllocationAfterTheFirstEpoch) {
  SKIP_WITHOUT_CUDA();
  TrainConfig c = Config("cnn", Device::Cuda(0));
  c.limit = 1024;  // 32 full batches an epoch: no partial batch changes a shape
  c.max_steps = 0;
  c.epochs = 1;
  {
    TrainingPipeline warm(c);
    warm.Run();
  }  // its blocks go back to the cache
  const DeviceMemoryStats first = CudaMemoryStats(0);
  c.epochs = 3;
  TrainingPipeline longer(c);
  longer.Run();
  const DeviceMemoryStats after = CudaMemoryStats(0);
  // The second pipeline's own model and optimizer state fit the blocks the first one freed.
  EXPECT_EQ(after.device_allocations, first.device_allocations);
}

// A checkpoint written while training on the GPU holds the GPU's weights and loads on the CPU.
TEST(CudaTraining, CheckpointFromTheGpuLoadsOnTheCpu) {
  SKIP_WITHOUT_CUDA();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("millrace-cuda-ckpt-" + std::to_string(getpid()));
  TrainConfig c = Config("mlp-small", Device::Cuda(0));
  c.max_steps = 64;
  c.epochs = 1;
  c.checkpoint_dir = dir.string();
  TrainingPipeline gpu(c);
  gpu.Run();
  ops::Sequential host = ops::MakeModel("mlp-small", 99);
  std::filesystem::path last;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename() == "last.safetensors") last = entry.path();
  }
  ASSERT_FALSE(last.empty()) << "no checkpoint in " << dir;
  ops::LoadCheckpoint(last, host, nullptr);
  std::vector<ops::Parameter*> ph = host.Parameters(), pg = gpu.model().Parameters();
  for (size_t i = 0; i < ph.size(); ++i) ExpectClose(ph[i]->value, pg[i]->value, 0, ph[i]->name);
  std::filesystem::remove_all(dir);
}

// Mixed placement, both ways: the teacher's forward on the CPU (oneDNN) while the student trains
// on the GPU, and the teacher on the GPU while the student trains on the CPU; the losses follow
// the all-CPU run's.
TEST(CudaTraining, TeacherAndStudentOnDifferentDevices) {
  SKIP_WITHOUT_CUDA();
  const ops::DistillationOptions options{.alpha = 0.7, .temperature = 3.0};
  auto run = [&](Device student_on, const std::string& teacher_on) {
    TrainConfig c = Config("mlp-small", student_on);
    c.max_steps = 128;
    TrainingPipeline student(c);
    auto teacher = std::make_shared<Teacher>(ops::MakeModel("mlp", 11), false);
    AttachDistillation(student, teacher, {.loss = options, .teacher_placement = teacher_on});
    return Losses(student);
  };
  const std::vector<double> want = run(Device::Cpu(), "cpu");
  for (const auto& [student_on, teacher_on] : {std::pair{Device::Cuda(0), std::string("cpu")},
                                               std::pair{Device::Cpu(), std::string("cuda:0")}}) {
    const std::vector<double> got = run(student_on, teacher_on);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 0.02 * want[i])
          << "student on " << student_on.ToString() << ", teacher on " << teacher_on << ", step "
          << i;
    }
  }
}

// Evaluation on the GPU (one copy in and one read back per batch) counts what the CPU counts.
TEST(CudaTraining, EvaluationOnTheGpuEqualsTheCpu) {
  SKIP_WITHOUT_CUDA();
  const TrainConfig c = Config("cnn", Device::Cpu());
  const DataSource test = DataSource::Open(c, Split::kTest);
  ops::Sequential on_cpu = ops::MakeModel("cnn", 3), on_gpu = ops::MakeModel("cnn", 3);
  const EvalResult want = EvaluateGraph(on_cpu, test, {});
  const EvalResult got =
      EvaluateGraph(on_gpu, test, {.device = Device::Cuda(0), .precision = ops::Precision::kFp32});
  EXPECT_EQ(got.metrics.samples(), want.metrics.samples());
  EXPECT_NEAR(got.metrics.Accuracy(), want.metrics.Accuracy(), 2.0 / want.metrics.samples());
  EXPECT_NEAR(got.metrics.MeanLoss(), want.metrics.MeanLoss(), 1e-4);
}

// The step captured as a CUDA Graph and replayed gives the bits of the step run kernel by
// kernel: the same losses and weights after every epoch's full batches and its partial last
// batch (run eagerly), over two epochs.
TEST(CudaTraining, ACudaGraphStepEqualsTheUncapturedStepBitForBit) {
  SKIP_WITHOUT_CUDA();
  for (const std::string model : {"mlp-small", "cnn"}) {
    TrainConfig c = Config(model, Device::Cuda(0));
    c.limit = 1000;  // 31 full batches of 32 and one of 8 per epoch
    c.epochs = 2;
    c.max_steps = 0;
    c.optimizer.name = "adamw";  // its bias correction changes every step
    c.optimizer.lr = 1e-3f;
    c.cuda_graphs = false;
    TrainingPipeline eager(c);
    const TrainResult want = eager.Run();
    EXPECT_EQ(want.cuda_graph_replays, 0);
    EXPECT_EQ(want.cuda_graph_note, "--no-cuda-graphs");
    c.cuda_graphs = true;
    TrainingPipeline graph(c);
    const TrainResult got = graph.Run();
    EXPECT_TRUE(got.cuda_graph_note.empty()) << got.cuda_graph_note;
    // Step 1 eager, step 2 captured, the other full batches replayed; partial batches eager.
    EXPECT_EQ(got.cuda_graph_replays, 2 * 31 - 2) << model;
    ASSERT_EQ(got.epochs.size(), 2u);
    ASSERT_EQ(want.epochs.size(), 2u);
    for (size_t e = 0; e < 2; ++e) {
      EXPECT_EQ(got.epochs[e].train_loss, want.epochs[e].train_loss) << model << " epoch " << e;
    }
    std::vector<ops::Parameter*> pe = eager.model().Parameters(), pg = graph.model().Parameters();
    ASSERT_EQ(pe.size(), pg.size());
    for (size_t i = 0; i < pe.size(); ++i) {
      const Tensor a = pe[i]->value.To(Device::Cpu()), b = pg[i]->value.To(Device::Cpu());
      EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0)
          << model << " " << pe[i]->name << " differs";
    }
  }
}

// Where the step cannot be captured the run says why, and trains kernel by kernel. (No GPU
// needed: the decision is the host's.)
TEST(CudaGraphs, WhyNotNamesWhatPreventsTheCapture) {
  TrainConfig c;
  ops::Sequential mlp = ops::MakeModel("mlp", 1);
  const std::vector<std::string> defaults = {"forward", "loss", "backward", "prune-mask", "step"};
  EXPECT_EQ(StepGraph::WhyNot(c, defaults, mlp), "");
  c.cuda_graphs = false;
  EXPECT_EQ(StepGraph::WhyNot(c, defaults, mlp), "--no-cuda-graphs");
  c.cuda_graphs = true;
  const std::string staged =
      StepGraph::WhyNot(c, {"forward", "distill-loss", "backward", "prune-mask", "step"}, mlp);
  EXPECT_NE(staged.find("distill-loss"), std::string::npos) << staged;
  c.on_nonfinite = NonFinitePolicy::kSkip;
  EXPECT_NE(StepGraph::WhyNot(c, defaults, mlp).find("--on-nonfinite skip"), std::string::npos);
  c.on_nonfinite = NonFinitePolicy::kFail;
  ops::Sequential with_dropout;
  with_dropout.Add("fc", std::make_unique<ops::Linear>(4, 4));
  with_dropout.Add("drop", std::make_unique<ops::Dropout>(0.5));
  EXPECT_NE(StepGraph::WhyNot(c, defaults, with_dropout).find("drop is a Dropout"),
            std::string::npos);
}

}  // namespace
}  // namespace millrace::pipelines
