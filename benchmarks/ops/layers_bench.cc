// The ceiling and the models, in the same run:
//   BM_Sgemm/M/N/K        C[M,N] = A[M,K] B[K,N] through a oneDNN matmul primitive (the
//                         GFLOP/s ceiling of compute on this CPU)
//   BM_TrainStep/model/N  forward + backward of a model preset at batch N (ZeroGrad included,
//                         no loss, no optimizer): FLOPs counted as 3 x the forward's
//                         (forward, backward-data, backward-weights)
//                         layouts: 0 auto (the default), 1 plain, 2 oneDNN's choice,
//                         3 plain for 1x1 convolutions only
//                         (cpu::ConvLayouts, for the convolutions of dwsep and cnn)
//   BM_Forward/model/N    forward only (kEval)
// Threads: the benchmark's main thread is the one compute thread; its OpenMP team has
// --threads=N (default: all cores) threads, set with ops::InitComputeThread.
//   build/benchmarks/ops_layers_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <string>

#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "ops/cpu/layout.h"
#include "ops/init.h"
#include "ops/models.h"

namespace millrace::ops {
namespace {

const char* const kModels[] = {"mlp", "dwsep", "cnn", "mlp-small"};

Tensor Random(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::Empty(shape);
  Rng rng(seed);
  UniformFill(t, -1, 1, rng);
  return t;
}

void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Tensor a = Random({m, k}, 1), b = Random({k, n}, 2), c = Tensor::Empty({m, n});
  const dnnl::memory::desc a_md = cpu::PlainDesc(a.shape()), b_md = cpu::PlainDesc(b.shape()),
                           c_md = cpu::PlainDesc(c.shape());
  dnnl::matmul matmul(dnnl::matmul::primitive_desc({a_md, b_md, c_md}, cpu::Engine()));
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, cpu::Wrap(a_md, a)},
                                                {DNNL_ARG_WEIGHTS, cpu::Wrap(b_md, b)},
                                                {DNNL_ARG_DST, cpu::Wrap(c_md, c)}};
  for (auto _ : state) cpu::Execute("sgemm", matmul, args);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainStep(benchmark::State& state) {
  const std::string name = kModels[state.range(0)];
  const int64_t batch = state.range(1);
  const auto layouts = static_cast<cpu::ConvLayouts>(state.range(2));
  cpu::SetConvLayouts(layouts);
  Sequential model = MakeModel(name, 1);
  const Shape input = ModelInputShape(name, batch);
  Tensor x = Random(input, 2), dy = Random({batch, 10}, 3);
  for (auto _ : state) {
    model.ZeroGrad();
    Tensor y = model.Forward(x, Mode::kTrain);
    Tensor dx = model.Backward(dy);
    benchmark::DoNotOptimize(dx.raw_data());
  }
  cpu::SetConvLayouts(cpu::ConvLayouts::kAuto);
  state.SetLabel(name + (layouts == cpu::ConvLayouts::kAuto    ? ""
                         : layouts == cpu::ConvLayouts::kPlain ? ", conv layouts: plain"
                         : layouts == cpu::ConvLayouts::kPlainPointwise
                             ? ", conv layouts: plain 1x1"
                             : ", conv layouts: oneDNN's"));
  state.counters["GFLOP/s"] = benchmark::Counter(1.0 * model.TrainingFlops(input) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Forward(benchmark::State& state) {
  const std::string name = kModels[state.range(0)];
  const int64_t batch = state.range(1);
  Sequential model = MakeModel(name, 1);
  const Shape input = ModelInputShape(name, batch);
  Tensor x = Random(input, 2);
  for (auto _ : state) {
    Tensor y = model.Forward(x, Mode::kEval);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetLabel(name);
  state.counters["GFLOP/s"] = benchmark::Counter(1.0 * model.ForwardFlops(input) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_Sgemm)
    ->Args({1024, 1024, 1024})
    ->Args({256, 500, 784})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_TrainStep)
    ->ArgNames({"model", "batch", "layouts"})
    ->ArgsProduct({{0, 1}, {128, 256}, {0}})
    ->Args({2, 128, 0})
    ->ArgsProduct({{1, 2}, {128}, {1, 3}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Forward)
    ->ArgNames({"model", "batch"})
    ->ArgsProduct({{0, 1}, {256}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace millrace::ops

int main(int argc, char** argv) {
  int threads = millrace::ops::cpu::ComputeThreads();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--threads=", 0) == 0) threads = std::stoi(arg.substr(10));
  }
  millrace::ops::InitComputeThread(millrace::Device::Cpu(), threads);
  benchmark::AddCustomContext("compute_threads", std::to_string(threads));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
