// Per-item cost of a 5-stage no-op pipeline: source -> 3 maps -> sink, 16 items in flight,
// on millrace::Graph, tbb::flow::graph and tbb::parallel_pipeline, in the same run. And what
// ordered device placement costs per item: six no-op stages on Compute() (the training graph's
// forward .. progress) beside one Compute() stage that calls the six bodies in a loop.
//   build/benchmarks/graph_overhead_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>
#include <optional>

#include "core/graph/graph.h"

namespace {

constexpr int64_t kItems = 1 << 20;
constexpr int kInFlight = 16;  // tokens / channel capacity

void SetItemsProcessed(benchmark::State& state, int64_t items = kItems) {
  state.SetItemsProcessed(state.iterations() * items);
  state.counters["ns_per_item"] =
      benchmark::Counter(static_cast<double>(state.iterations() * items),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Middle stages: concurrency 2 (the machine's cores); source and sink serial.
void BM_MillraceGraph(benchmark::State& state) {
  for (auto _ : state) {
    millrace::Graph g;
    int64_t next = 0, sum = 0;
    auto src = g.Source<int64_t>("source", millrace::Cpu(1), [&]() -> std::optional<int64_t> {
      if (next == kItems) return std::nullopt;
      return next++;
    });
    auto a = g.Map<int64_t>("a", millrace::Cpu(2), [](int64_t x) { return x + 1; });
    auto b = g.Map<int64_t>("b", millrace::Cpu(2), [](int64_t x) { return x - 1; });
    auto c = g.Map<int64_t>("c", millrace::Cpu(2), [](int64_t x) { return x; });
    auto sink = g.Sink<int64_t>("sink", millrace::Cpu(1), [&](int64_t x) { sum += x; });
    g.Connect(src, a, kInFlight)
        .Connect(a, b, kInFlight)
        .Connect(b, c, kInFlight)
        .Connect(c, sink, kInFlight);
    g.Run();
    benchmark::DoNotOptimize(sum);
  }
  SetItemsProcessed(state);
}

void BM_TbbParallelPipeline(benchmark::State& state) {
  for (auto _ : state) {
    int64_t next = 0, sum = 0;
    tbb::parallel_pipeline(kInFlight,
                           tbb::make_filter<void, int64_t>(tbb::filter_mode::serial_in_order,
                                                           [&](tbb::flow_control& fc) -> int64_t {
                                                             if (next == kItems) {
                                                               fc.stop();
                                                               return 0;
                                                             }
                                                             return next++;
                                                           }) &
                               tbb::make_filter<int64_t, int64_t>(tbb::filter_mode::parallel,
                                                                  [](int64_t x) { return x + 1; }) &
                               tbb::make_filter<int64_t, int64_t>(tbb::filter_mode::parallel,
                                                                  [](int64_t x) { return x - 1; }) &
                               tbb::make_filter<int64_t, int64_t>(tbb::filter_mode::parallel,
                                                                  [](int64_t x) { return x; }) &
                               tbb::make_filter<int64_t, void>(tbb::filter_mode::serial_in_order,
                                                               [&](int64_t x) { sum += x; }));
    benchmark::DoNotOptimize(sum);
  }
  SetItemsProcessed(state);
}

void BM_TbbFlowGraph(benchmark::State& state) {
  using namespace tbb::flow;
  for (auto _ : state) {
    graph g;
    int64_t next = 0, sum = 0;
    input_node<int64_t> src(g, [&](tbb::flow_control& fc) -> int64_t {
      if (next == kItems) {
        fc.stop();
        return 0;
      }
      return next++;
    });
    limiter_node<int64_t> limit(g, kInFlight);
    function_node<int64_t, int64_t> a(g, 2, [](int64_t x) { return x + 1; });
    function_node<int64_t, int64_t> b(g, 2, [](int64_t x) { return x - 1; });
    function_node<int64_t, int64_t> c(g, 2, [](int64_t x) { return x; });
    function_node<int64_t, continue_msg> sink(g, serial, [&](int64_t x) {
      sum += x;
      return continue_msg();
    });
    make_edge(src, limit);
    make_edge(limit, a);
    make_edge(a, b);
    make_edge(b, c);
    make_edge(c, sink);
    make_edge(sink, limit.decrementer());
    src.activate();
    g.wait_for_all();
    benchmark::DoNotOptimize(sum);
  }
  SetItemsProcessed(state);
}

// source (cpu) -> six stages on the compute device -> sink (cpu): one batch of the training
// graph, with no-op compute. Each item passes the six before the next enters the device.
constexpr int64_t kDeviceItems = 1 << 16;
constexpr int kDeviceStages = 6;

void BM_OrderedDeviceSixStages(benchmark::State& state) {
  for (auto _ : state) {
    millrace::Graph g({.trace = false});
    int64_t next = 0, sum = 0;
    auto src = g.Source<int64_t>("source", millrace::Cpu(1), [&]() -> std::optional<int64_t> {
      if (next == kDeviceItems) return std::nullopt;
      return next++;
    });
    std::vector<millrace::Stage<int64_t, int64_t>> chain;
    for (int i = 0; i < kDeviceStages; ++i) {
      chain.push_back(g.Map<int64_t>("d" + std::to_string(i), millrace::Compute(),
                                     [](int64_t x) { return x + 1; }));
    }
    auto sink = g.Sink<int64_t>("sink", millrace::Cpu(1), [&](int64_t x) { sum += x; });
    g.Connect(src, chain.front(), 4);
    for (int i = 1; i < kDeviceStages; ++i) g.Connect(chain[i - 1], chain[i], 1);
    g.Connect(chain.back(), sink, 4);
    g.Run();
    benchmark::DoNotOptimize(sum);
  }
  SetItemsProcessed(state, kDeviceItems);
}

// The same six bodies as a list inside one Compute() stage (what a stage that runs its own
// sub-steps costs): the baseline of the one above.
void BM_ComputeStageList(benchmark::State& state) {
  for (auto _ : state) {
    millrace::Graph g({.trace = false});
    int64_t next = 0, sum = 0;
    auto src = g.Source<int64_t>("source", millrace::Cpu(1), [&]() -> std::optional<int64_t> {
      if (next == kDeviceItems) return std::nullopt;
      return next++;
    });
    std::vector<std::function<int64_t(int64_t)>> list(kDeviceStages,
                                                      [](int64_t x) { return x + 1; });
    auto train = g.Map<int64_t>("train", millrace::Compute(), [&list](int64_t x) {
      for (auto& f : list) x = f(x);
      return x;
    });
    auto sink = g.Sink<int64_t>("sink", millrace::Cpu(1), [&](int64_t x) { sum += x; });
    g.Connect(src, train, 4).Connect(train, sink, 4);
    g.Run();
    benchmark::DoNotOptimize(sum);
  }
  SetItemsProcessed(state, kDeviceItems);
}

BENCHMARK(BM_OrderedDeviceSixStages)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ComputeStageList)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MillraceGraph)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TbbParallelPipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TbbFlowGraph)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
