// Pruning inside the training graph (pipelines/pruning.h): the gradual schedule reaches the
// scheduled sparsity at the scheduled steps (at lag 0 and with a lag), and at lag 0 the graph's
// weights and masks equal, bit for bit, those of a plain sequential loop that prunes with
// ops::GradualPruning between backward and the optimizer step.
#include "pipelines/pruning.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "ops/loss/loss.h"
#include "ops/prune/magnitude.h"
#include "ops/prune/schedule.h"
#include "pipelines/data.h"
#include "pipelines/training.h"

namespace millrace::pipelines {
namespace {

// 256 Fashion-MNIST samples in batches of 32: 8 steps per epoch.
TrainConfig SmallConfig() {
  TrainConfig c;
  c.model = "mlp-small";
  c.limit = 256;
  c.batch_size = 32;
  c.epochs = 4;
  c.eval_each_epoch = false;
  c.deterministic = true;
  c.compute_threads = 1;
  c.seed = 3;
  return c;
}

bool HaveData() { return std::filesystem::exists(std::string(kDefaultDataDir)); }

PruneConfig Gradual(int64_t lag, bool global) {
  PruneConfig p;
  p.method = "gradual";
  p.sparsity = 0.8f;
  p.global = global;
  p.start_step = 3;
  p.end_step = 23;
  p.every = 5;  // masks ranked at steps 3, 8, 13, 18, 23
  p.lag = lag;
  p.restart_lr = false;  // the lr schedule of the plain loop
  return p;
}

// Masked entries of each prunable weight, and of all of them, after each step's prune-mask.
struct Observed {
  std::map<int64_t, std::vector<int64_t>> per_tensor;  // step -> masked count per weight
  std::map<int64_t, int64_t> total;
};

Observed TrainObserved(const PruneConfig& prune) {
  TrainingPipeline pipeline(SmallConfig());
  AttachPruning(pipeline, prune);
  auto observed = std::make_shared<Observed>();
  pipeline.InsertBefore(
      "step", MakeComputeStage("probe", [observed](StepItem&, TrainState& s) {
        std::vector<int64_t> counts;
        int64_t total = 0;
        for (ops::Parameter* p : PrunableWeights(*s.model)) {
          counts.push_back(ops::PrunedCount(*p));
          total += counts.back();
          // A masked entry is 0 in the weights and in the gradient the step will use.
          if (!p->mask.defined()) continue;
          for (int64_t i = 0; i < p->mask.numel(); ++i) {
            if (p->mask.data<float>()[i] == 0.0f) {
              ASSERT_EQ(p->value.data<float>()[i], 0.0f) << p->name << " at step " << s.steps_done;
              ASSERT_EQ(p->grad.data<float>()[i], 0.0f) << p->name << " at step " << s.steps_done;
            }
          }
        }
        observed->per_tensor[s.steps_done] = counts;
        observed->total[s.steps_done] = total;
      }));
  pipeline.Run();
  return *observed;
}

// Zhu & Gupta by hand: s_t = s_f (1 - (1 - (t - t0) / (t1 - t0))^3), as a count of `numel`
// entries rounded half to even.
int64_t Scheduled(const PruneConfig& p, int64_t t, int64_t numel) {
  const double progress = static_cast<double>(t - p.start_step) / (p.end_step - p.start_step);
  const double s = p.sparsity * (1.0 - std::pow(1.0 - progress, 3.0));
  return static_cast<int64_t>(std::nearbyint(s * numel));
}

void ExpectFollowsSchedule(const PruneConfig& p, bool global) {
  const Observed seen = TrainObserved(p);
  ASSERT_EQ(seen.total.size(), 32u);  // 4 epochs x 8 steps
  const std::vector<int64_t> numel = {784 * 64, 64 * 10};
  std::vector<int64_t> expected = {0, 0};
  int64_t expected_total = 0;
  for (int64_t t = 0; t < 32; ++t) {
    const int64_t ranked = t - p.lag;  // the masks applied at t were ranked at t - lag
    const bool on_grid =
        ranked >= p.start_step && ranked <= p.end_step && (ranked - p.start_step) % p.every == 0;
    if (on_grid || ranked == p.end_step) {  // the ramp's end is an update step off the grid too
      if (global) {
        expected_total = Scheduled(p, ranked, numel[0] + numel[1]);
      } else {
        for (int i = 0; i < 2; ++i) expected[i] = Scheduled(p, ranked, numel[i]);
        expected_total = expected[0] + expected[1];
      }
    }
    EXPECT_EQ(seen.total.at(t), expected_total) << "step " << t << ", lag " << p.lag;
    if (!global) {
      EXPECT_EQ(seen.per_tensor.at(t), expected) << "step " << t;
    }
  }
  // The end of the ramp: the final sparsity, kept through the fine-tuning steps.
  if (global) {
    EXPECT_EQ(seen.total.at(31), std::llround(0.8 * (numel[0] + numel[1])));
  } else {
    EXPECT_EQ(seen.per_tensor.at(31),
              (std::vector<int64_t>{std::llround(0.8 * numel[0]), std::llround(0.8 * numel[1])}));
  }
}

TEST(PruningInGraph, GradualGlobalReachesScheduledSparsityAtScheduledSteps) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  ExpectFollowsSchedule(Gradual(/*lag=*/0, /*global=*/true), true);
}

TEST(PruningInGraph, LaggedRankingIsAppliedExactlyLagStepsLater) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  ExpectFollowsSchedule(Gradual(/*lag=*/2, /*global=*/true), true);
}

TEST(PruningInGraph, RampEndOffTheEveryGridStillReachesTheFinalSparsity) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  PruneConfig p = Gradual(/*lag=*/0, /*global=*/true);
  p.end_step = 21;  // masks ranked at 3, 8, 13, 18 and 21 (the end)
  ExpectFollowsSchedule(p, true);
  p.lag = 3;  // the last two updates are 3 steps apart: a lag of 3 still fits
  ExpectFollowsSchedule(p, true);
}

TEST(PruningInGraph, GradualPerTensorReachesEachTensorsSparsity) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  ExpectFollowsSchedule(Gradual(/*lag=*/0, /*global=*/false), false);
}

// The mlp-small's weights and masks of the graph's model and the plain loop's, bit for bit;
// and the graph did prune.
void ExpectSameWeightsAndMasks(ops::Sequential& graph, ops::Sequential& plain) {
  for (const char* name : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) {
    const ops::Parameter* a = graph.FindParameter(name);
    const ops::Parameter* b = plain.FindParameter(name);
    ASSERT_EQ(a->value.numel(), b->value.numel());
    EXPECT_EQ(std::memcmp(a->value.data<float>(), b->value.data<float>(), a->value.nbytes()), 0)
        << name << ": the graph's weights differ from the plain loop's";
    ASSERT_EQ(a->mask.defined(), b->mask.defined()) << name;
    if (a->mask.defined()) {
      EXPECT_EQ(std::memcmp(a->mask.data<float>(), b->mask.data<float>(), a->mask.nbytes()), 0)
          << name << ": masks differ";
    }
  }
  EXPECT_GT(ops::PrunedCount(*graph.FindParameter("fc1.weight")), 0);
}

// The plain loop of ops/prune/schedule.h: forward, loss, backward, GradualPruning::Step, step.
TEST(PruningInGraph, LagZeroEqualsSequentialLoopBitForBit) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  const TrainConfig config = SmallConfig();
  const PruneConfig prune = Gradual(0, true);

  TrainingPipeline graph(config);
  AttachPruning(graph, prune);
  graph.Run();

  ops::InitComputeThread(Device::Cpu(), 1);  // as the graph's compute thread (config.compute_threads)
  TrainingPipeline plain(config);  // never run: its model, optimizer and schedule, fresh
  TrainState& state = plain.state();
  const DataSource train = DataSource::Open(config, Split::kTrain);
  const ops::GradualPruning pruning({.final_sparsity = prune.sparsity,
                                     .begin_step = prune.start_step,
                                     .end_step = prune.end_step,
                                     .frequency = prune.every,
                                     .global = true});
  std::vector<ops::Parameter*> weights = {state.model->FindParameter("fc1.weight"),
                                          state.model->FindParameter("fc2.weight")};
  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    for (const auto& indices : train.EpochBatches(epoch)) {
      const Batch batch = train.MakeBatch(epoch, indices);
      state.optimizer->ZeroGrad();
      Tensor logits = state.model->Forward(batch.images, ops::Mode::kTrain);
      state.model->Backward(
          ops::SoftmaxCrossEntropy(logits, batch.labels, state.label_smoothing).grad);
      pruning.Step(state.steps_done, weights);
      state.optimizer->set_lr(state.base_lr * state.schedule->Factor(state.steps_done));
      state.optimizer->Step();
      ++state.steps_done;
    }
  }
  ASSERT_EQ(state.steps_done, 32);
  ExpectSameWeightsAndMasks(graph.model(), *state.model);
}

// At lag > 0 the graph ranks on the prune-rank cpu stage while training goes on; the plain loop
// ranks copies of the weights at each update step t and applies the masks at step t + lag. The
// weights and masks must be the same bit for bit.
TEST(PruningInGraph, LaggedRankingEqualsSequentialLoopBitForBit) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  const TrainConfig config = SmallConfig();
  const PruneConfig prune = Gradual(/*lag=*/2, /*global=*/true);

  TrainingPipeline graph(config);
  AttachPruning(graph, prune);
  TrainResult r = graph.Run();
  bool ranked_in_graph = false;
  for (const StageFigures& s : r.stages) ranked_in_graph |= s.name == "prune-rank" && s.items > 0;
  EXPECT_TRUE(ranked_in_graph) << r.stage_report;

  ops::InitComputeThread(Device::Cpu(), 1);  // as the graph's compute thread (config.compute_threads)
  TrainingPipeline plain(config);  // never run: its model, optimizer and schedule, fresh
  TrainState& state = plain.state();
  const DataSource train = DataSource::Open(config, Split::kTrain);
  const PruneSchedule schedule(prune, 32);
  std::vector<ops::Parameter*> weights = PrunableWeights(*state.model);
  std::map<int64_t, std::vector<Tensor>> ranked;  // apply-at step -> masks
  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    for (const auto& indices : train.EpochBatches(epoch)) {
      const int64_t t = state.steps_done;
      const Batch batch = train.MakeBatch(epoch, indices);
      state.optimizer->ZeroGrad();
      Tensor logits = state.model->Forward(batch.images, ops::Mode::kTrain);
      state.model->Backward(
          ops::SoftmaxCrossEntropy(logits, batch.labels, state.label_smoothing).grad);
      if (auto it = ranked.find(t); it != ranked.end()) {
        for (size_t i = 0; i < weights.size(); ++i) {
          weights[i]->mask = std::move(it->second[i]);
          ops::ApplyMask(*weights[i]);
        }
        ranked.erase(it);
      }
      if (schedule.IsUpdateStep(t)) {
        std::vector<ops::Parameter> copies(weights.size());
        std::vector<ops::Parameter*> pointers;
        for (size_t i = 0; i < weights.size(); ++i) {
          copies[i].name = weights[i]->name;
          copies[i].value = weights[i]->value.Clone();
          if (weights[i]->mask.defined()) copies[i].mask = weights[i]->mask.Clone();
          pointers.push_back(&copies[i]);
        }
        PruneTo(pointers, schedule.SparsityAt(t), prune.global);
        std::vector<Tensor>& masks = ranked[t + prune.lag];
        for (ops::Parameter& c : copies) masks.push_back(std::move(c.mask));
      }
      for (ops::Parameter* p : state.optimizer->parameters()) {
        if (!p->mask.defined()) continue;
        float* g = p->grad.data<float>();
        const float* m = p->mask.data<float>();
        for (int64_t i = 0; i < p->grad.numel(); ++i) g[i] *= m[i];
      }
      state.optimizer->set_lr(state.base_lr * state.schedule->Factor(t));
      state.optimizer->Step();
      ++state.steps_done;
    }
  }
  ExpectSameWeightsAndMasks(graph.model(), *state.model);
}

TEST(PruningInGraph, OneShotPrunesAtItsStepAndKeepsTheMask) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  PruneConfig p;
  p.method = "oneshot";
  p.sparsity = 0.5f;
  p.start_step = 10;
  const Observed seen = TrainObserved(p);
  const int64_t all = 784 * 64 + 64 * 10;
  for (int64_t t = 0; t < 32; ++t) {
    EXPECT_EQ(seen.total.at(t), t < 10 ? 0 : all / 2) << "step " << t;
  }
}

TEST(PruningInGraph, BadSchedulesAreNamed) {
  PruneConfig p = Gradual(0, true);
  p.lag = 6;  // more than every: two rankings would be in flight
  EXPECT_THROW(PruneSchedule(p, 100), Error);
  p = Gradual(0, true);
  p.end_step = 21;
  p.lag = 4;  // more than the 3 steps between the updates at 18 and 21
  EXPECT_THROW(PruneSchedule(p, 100), Error);
  p.lag = 3;
  EXPECT_EQ(PruneSchedule(p, 100).LastUpdateStep(), 21);
  EXPECT_TRUE(PruneSchedule(p, 100).IsUpdateStep(21));
  EXPECT_FALSE(PruneSchedule(p, 100).IsUpdateStep(23));
  p = Gradual(0, true);
  p.sparsity = 1.5f;
  EXPECT_THROW(PruneSchedule(p, 100), Error);
  p = Gradual(0, true);
  p.method = "random";
  EXPECT_THROW(PruneSchedule(p, 100), Error);
  p = Gradual(0, true);
  p.end_step = 0;  // three fifths of the run
  EXPECT_EQ(PruneSchedule(p, 90).SparsityAt(54), 0.8f);
  EXPECT_LT(PruneSchedule(p, 90).SparsityAt(53), 0.8f);
  EXPECT_TRUE(PruneSchedule(p, 90).IsUpdateStep(54));
}

TEST(PruningInGraph, DefaultGradualScheduleIsTwoFifthsToThreeFifthsEvery50) {
  PruneConfig p;
  p.method = "gradual";
  p.sparsity = 0.9f;
  const PruneSchedule s(p, 2340);  // 5 epochs of 468 steps
  EXPECT_EQ(s.config().start_step, 936);
  EXPECT_EQ(s.config().end_step, 1404);
  EXPECT_EQ(s.config().every, 50);
  EXPECT_EQ(s.SparsityAt(935), 0.0);
  EXPECT_FALSE(s.IsUpdateStep(935));
  EXPECT_TRUE(s.IsUpdateStep(936));
  EXPECT_TRUE(s.IsUpdateStep(986));
  EXPECT_TRUE(s.IsUpdateStep(1404));  // off the every-grid: 1404 - 936 = 468
  EXPECT_EQ(s.LastUpdateStep(), 1404);
  EXPECT_EQ(FineTuneStart(s), 1405);
  EXPECT_FLOAT_EQ(s.SparsityAt(1404), 0.9f);
  PruneConfig o;
  o.method = "oneshot";
  o.sparsity = 0.5f;
  EXPECT_EQ(PruneSchedule(o, 2340).config().start_step, 0);
}

// restart_lr: the pipeline's lr factor is the run's own up to the step after the last masks
// land, then a cosine from 1 down to 0 at the run's end.
TEST(PruningInGraph, RestartLrRestartsTheScheduleAfterTheLastMasks) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  TrainingPipeline plain(SmallConfig());  // 32 steps, cosine over all of them
  const ops::LrSchedulePtr cosine = plain.state().schedule;
  for (int64_t lag : {0, 2}) {
    PruneConfig p = Gradual(lag, true);  // last masks ranked at 23, applied at 23 + lag
    p.restart_lr = true;
    TrainingPipeline pipeline(SmallConfig());
    AttachPruning(pipeline, p);
    const ops::LrSchedule& lr = *pipeline.state().schedule;
    const int64_t at = 24 + lag;
    for (int64_t t = 0; t < at; ++t) EXPECT_EQ(lr.Factor(t), cosine->Factor(t)) << "step " << t;
    // A cosine from restart_lr_factor x the peak (3 by default) down to 0 at the run's end.
    const ops::LrSchedulePtr after = ops::CosineLr(32 - at);
    for (int64_t t = at; t < 32; ++t) {
      EXPECT_DOUBLE_EQ(lr.Factor(t), 3.0 * after->Factor(t - at))
          << "step " << t << ", lag " << lag;
    }
    EXPECT_EQ(lr.Factor(at), 3.0);
  }
  PruneConfig peak = Gradual(0, true);
  peak.restart_lr = true;
  peak.restart_lr_factor = 1.0f;  // back to the run's own peak
  TrainingPipeline at_peak(SmallConfig());
  AttachPruning(at_peak, peak);
  EXPECT_EQ(at_peak.state().schedule->Factor(24), 1.0);
  EXPECT_DOUBLE_EQ(at_peak.state().schedule->Factor(28), ops::CosineLr(8)->Factor(4));
  PruneConfig off = Gradual(0, true);  // restart_lr false: the schedule is left alone
  TrainingPipeline pipeline(SmallConfig());
  AttachPruning(pipeline, off);
  for (int64_t t = 0; t < 32; ++t) {
    EXPECT_EQ(pipeline.state().schedule->Factor(t), cosine->Factor(t)) << "step " << t;
  }
}

}  // namespace
}  // namespace millrace::pipelines
