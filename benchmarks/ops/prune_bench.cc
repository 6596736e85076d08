// The training step (forward + softmax cross-entropy + backward + SGD) of the MLP 784-500-10,
// dense, with half its hidden units masked (L2 structured masks, what torch.nn.utils.prune
// gives), and physically shrunk to 784-250-10 by ShrinkByL2, in the same run.
//   build/benchmarks/ops_prune_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <memory>
#include <random>

#include "ops/activation/relu.h"
#include "ops/linear/linear.h"
#include "ops/loss/loss.h"
#include "ops/optim/sgd.h"
#include "ops/prune/magnitude.h"
#include "ops/prune/shrink.h"
#include "ops/sequential.h"

namespace millrace::ops {
namespace {

enum Variant : int64_t { kDense = 0, kMasked = 1, kShrunk = 2 };

Sequential Mlp(Variant variant) {
  Sequential m;
  m.Add("fc1", std::make_unique<Linear>(784, 500, true, 1));
  m.Add("relu", std::make_unique<ReLU>());
  m.Add("fc2", std::make_unique<Linear>(500, 10, true, 2));
  if (variant == kMasked) L2Structured(*m.FindParameter("fc1.weight"), PruneAmount::Fraction(0.5));
  if (variant == kShrunk) ShrinkByL2(m, "fc1", PruneAmount::Fraction(0.5));
  return m;
}

void BM_MlpTrainStep(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  const int64_t batch = state.range(1);
  Sequential model = Mlp(variant);
  Sgd sgd(model.Parameters(), {.lr = 0.01, .momentum = 0.9});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pixel(0, 1);
  Tensor x = Tensor::Empty({batch, 784});
  for (float& v : x.span<float>()) v = pixel(rng);
  Tensor labels = Tensor::Empty({batch}, DType::kI64);
  for (int64_t i = 0; i < batch; ++i) labels.data<int64_t>()[i] = i % 10;
  for (auto _ : state) {
    model.ZeroGrad();
    LossResult r = SoftmaxCrossEntropy(model.Forward(x, Mode::kTrain), labels);
    model.Backward(r.grad);
    sgd.Step();
    benchmark::DoNotOptimize(r.loss);
  }
  const Shape input = {batch, 784};
  // Forward + backward (data and weights) = 3x the forward's FLOPs.
  const double flops = 3.0 * static_cast<double>(model.ForwardFlops(input));
  state.counters["hidden"] = static_cast<double>(model.FindParameter("fc1.bias")->value.numel());
  state.counters["params"] = static_cast<double>(model.ParameterCount());
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetLabel(variant == kDense    ? "dense 784-500-10"
                 : variant == kMasked ? "masked 50% of hidden (not shrunk)"
                                      : "shrunk to 784-250-10");
}
BENCHMARK(BM_MlpTrainStep)
    ->ArgNames({"variant", "batch"})
    ->ArgsProduct({{kDense, kMasked, kShrunk}, {128, 256}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace millrace::ops

BENCHMARK_MAIN();
