// The tuner's model: predictions, the exact search against hand-worked optima, the explanation,
// and a model fitted from a graph whose stages spin for known times.
#include "pipelines/tuner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include "core/graph/graph.h"

namespace millrace::pipelines {
namespace {

// read (io, 0.01 ms) -> augment (parallel, `augment_ms`) -> collate (serial, 0.02 ms) ->
// compute with the given samples/s per thread count.
PipelineModel Model(int cores, double augment_ms, std::map<int, double> compute_rate) {
  PipelineModel m;
  m.cores = cores;
  m.batch_size = 100;
  m.stages = {{"read", StageRole::kIo, 0.01e-3, 1, ""},
              {"augment", StageRole::kParallel, augment_ms * 1e-3, 1, "read"},
              {"collate", StageRole::kSerial, 0.02e-3, 1, "augment"}};
  m.compute_rate = std::move(compute_rate);
  return m;
}

TEST(Tuner, ComputeRateIsInterpolatedAndFlatPastTheLastMeasured) {
  PipelineModel m = Model(8, 0.1, {{2, 1000}, {4, 1800}});
  EXPECT_DOUBLE_EQ(m.ComputeRateAt(2), 1000);
  EXPECT_DOUBLE_EQ(m.ComputeRateAt(3), 1400);
  EXPECT_DOUBLE_EQ(m.ComputeRateAt(8), 1800);
  EXPECT_DOUBLE_EQ(m.ComputeRateAt(1), 500);
}

TEST(Tuner, PredictionIsTheSlowestBound) {
  // augment 1 ms: 1000/s per worker; compute 1500/s at 1 thread; 4 cores.
  PipelineModel m = Model(4, 1.0, {{1, 1500}});
  Prediction one = Predict(m, 1, {{"augment", 1}});
  EXPECT_DOUBLE_EQ(one.samples_per_s, 1000);
  EXPECT_EQ(one.limit, "augment");
  Prediction two = Predict(m, 1, {{"augment", 2}});
  EXPECT_DOUBLE_EQ(two.samples_per_s, 1500);
  EXPECT_EQ(two.limit, "compute");
  // On one core the core budget binds: 1 / (1.02 ms of cpu stages + 1 / 1500 s).
  m.cores = 1;
  Prediction cores = Predict(m, 1, {{"augment", 2}});
  EXPECT_NEAR(cores.samples_per_s, 1.0 / (1.02e-3 + 1.0 / 1500), 1e-6);
  EXPECT_EQ(cores.limit, "cores");
}

// A light data side (IDX without augmentation): compute takes every core.
TEST(Tuner, LightDataSideGivesComputeEveryCore) {
  PipelineModel m = Model(2, 0.005, {{1, 1000}, {2, 1700}});
  TunedConfig c = Optimize(m);
  EXPECT_EQ(c.compute_threads, 2);
  EXPECT_EQ(c.concurrency.at("augment"), 1);
  EXPECT_EQ(c.predicted.limit, "cores");  // 2 / (0.025 ms + 2 / 1700 s) = 1665 < 1700
  // The cores go to compute (1.96 of 2), so it is compute that more cores would speed up.
  EXPECT_EQ(c.bound, "compute-bound");
}

// A heavy augment on 2 cores: a second compute thread would take augment's core, so one
// thread and one worker; the explanation names augment's share of the cores.
TEST(Tuner, HeavyAugmentOnTwoCoresKeepsOneComputeThread) {
  PipelineModel m = Model(2, 1.0, {{1, 1000}, {2, 1700}});
  TunedConfig c = Optimize(m);
  EXPECT_EQ(c.compute_threads, 1);
  EXPECT_EQ(c.concurrency.at("augment"), 1);
  EXPECT_EQ(c.bound, "CPU-bound");  // augment takes 0.98 cores, compute 0.99
  EXPECT_NE(c.explanation.find("augment"), std::string::npos) << c.explanation;
}

// 16 cores, augment 4.8 ms a sample (208/s a worker), compute 2000/s at 4 threads and no
// faster past them: the optimum is 4 threads and ceil(2000 / 208) = 10 workers (16 cores fit
// 2346/s of the work), compute-bound.
TEST(Tuner, ManyCoresGiveAugmentTheWorkersComputeNeeds) {
  PipelineModel m = Model(16, 4.8, {{1, 600}, {2, 1100}, {4, 2000}, {8, 2000}});
  TunedConfig c = Optimize(m);
  EXPECT_EQ(c.compute_threads, 4);
  EXPECT_EQ(c.concurrency.at("augment"), 10);
  EXPECT_EQ(c.predicted.limit, "compute");
  EXPECT_EQ(c.bound, "compute-bound");
  EXPECT_NE(c.explanation.find("compute-bound"), std::string::npos);
  // The channel into compute holds four batches; the others two batches and the reordering
  // room of their producer's workers.
  EXPECT_EQ(c.capacity.at("forward"), 4);
  EXPECT_EQ(c.capacity.at("collate"), 2 * 100 + 10);
  EXPECT_EQ(c.capacity.at("augment"), 2 * 100 + 1);
}

// The exact search agrees with brute force over a grid of models.
TEST(Tuner, SearchFindsTheBestPredictionOfEveryConfiguration) {
  for (int cores : {1, 2, 3, 6}) {
    for (double augment_ms : {0.01, 0.3, 1.0, 4.0}) {
      PipelineModel m = Model(cores, augment_ms, {{1, 900}, {2, 1600}, {4, 2500}});
      const TunedConfig c = Optimize(m);
      double best = 0;
      for (int t = 1; t <= cores; ++t) {
        for (int a = 1; a <= cores; ++a) {
          best = std::max(best, Predict(m, t, {{"augment", a}}).samples_per_s);
        }
      }
      EXPECT_DOUBLE_EQ(c.predicted.samples_per_s, best) << cores << " cores, " << augment_ms;
    }
  }
}

TEST(Tuner, ExplanationNamesASlowSerialStageAndASlowReader) {
  PipelineModel m = Model(8, 0.1, {{1, 5000}});
  m.stages[2].seconds_per_sample = 2e-3;  // collate: 500/s, serial
  TunedConfig c = Optimize(m);
  EXPECT_EQ(c.predicted.limit, "collate");
  EXPECT_NE(c.explanation.find("collate"), std::string::npos) << c.explanation;
  EXPECT_NE(c.explanation.find("More cores do not help"), std::string::npos) << c.explanation;
  m.stages[2].seconds_per_sample = 0.02e-3;
  m.stages[0].seconds_per_sample = 1e-3;  // read: 1000/s
  c = Optimize(m);
  EXPECT_EQ(c.bound, "I/O-bound");
  EXPECT_NE(c.explanation.find("read"), std::string::npos) << c.explanation;
}

// A body that holds its stage for `ms`. It sleeps rather than spins: the statistics count the
// time either way, and a sleeping body does not lose its core to the other stages (or to other
// processes) on a small, busy machine, which would stretch its measured time.
void Hold(double ms) { std::this_thread::sleep_for(std::chrono::microseconds(int(ms * 1e3))); }

// A graph whose stages take known times: read (io), decode (cpu, 2.5 ms, tunable), pack (cpu,
// serial, 0.1 ms), train (compute, 1 ms). On 8 cores the analytic optimum is decode at
// ceil(2.5 / 1) = 3 workers and 1 compute thread (compute measured at 1 thread only, so more
// threads are not predicted to help), compute-bound. On a loaded machine the holds overshoot,
// so the optimum is computed from what was measured: decode's workers = ceil(decode's service
// time x train's rate) (within the 8 cores), the one the fitted model must find.
TEST(Tuner, FittedFromASpinningGraphFindsTheAnalyticOptimum) {
  constexpr int kItems = 150;
  Graph g;
  int next = 0;
  auto read = g.Source<int>("read", Io(), [&next]() -> std::optional<int> {
    if (next == kItems) return std::nullopt;
    return next++;
  });
  auto decode = g.Map<int>("decode", Cpu(1), [](int x) {
    Hold(2.5);
    return x;
  });
  auto pack = g.Map<int>("pack", Cpu(1), [](int x) {
    Hold(0.1);
    return x;
  });
  auto train = g.Sink<int>("train", Compute(), [](int) { Hold(1.0); });
  g.Connect(read, decode, 8).Connect(decode, pack, 8).Connect(pack, train, 4);
  g.Run();
  Trial trial{g.Stats(), 1, kItems};
  PipelineModel m = FitModel({trial}, 8, 1, {"decode"});
  ASSERT_EQ(m.stages.size(), 3u);
  EXPECT_EQ(m.stages[1].role, StageRole::kParallel);
  EXPECT_EQ(m.stages[2].role, StageRole::kSerial);
  EXPECT_EQ(m.stages[0].role, StageRole::kIo);
  EXPECT_EQ(m.compute_stage, "train");
  ASSERT_EQ(m.compute_rate.size(), 1u);
  TunedConfig c = Optimize(m);
  EXPECT_EQ(c.compute_threads, 1);
  const double ratio = m.stages[1].seconds_per_sample * m.ComputeRateAt(1);
  EXPECT_GT(ratio, 2.0);  // the holds took at least their time
  const int want = static_cast<int>(std::ceil(ratio - 1e-9));
  if (want <= 6) {  // room left for pack and train on the 8 cores
    EXPECT_EQ(c.concurrency.at("decode"), want) << "decode/train " << ratio;
  }
  EXPECT_EQ(c.predicted.limit, "compute");

  // On one core the cores bind, and the explanation names the deliberately slow decode stage
  // as the data stage taking the most of them.
  m.cores = 1;
  c = Optimize(m);
  EXPECT_NE(c.explanation.find("decode"), std::string::npos) << c.explanation;
}

}  // namespace
}  // namespace millrace::pipelines
