// Pipeline efficiency: source -> work -> sink, each stage spinning for a known time per item
// with a known concurrency. Throughput is divided by its bound: the slowest stage's rate
// (concurrency / time) and the cores' total (cores / summed time per item), whichever is lower.
// The same shape on tbb::parallel_pipeline runs in the same binary, as the reference.
//   build/benchmarks/graph_efficiency_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <tbb/parallel_pipeline.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/graph/graph.h"
#include "core/threads.h"

namespace {

constexpr int64_t kItems = 20000;

// The time each thread has spent in Spin, so that a run's CPU time can be split into the
// bodies' and the runtime's (see BM_MillraceGraph).
class SpinTotals {
 public:
  std::atomic<int64_t>& Mine() {
    thread_local std::atomic<int64_t>* mine = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return threads_.emplace_back(std::make_unique<std::atomic<int64_t>>(0)).get();
    }();
    return *mine;
  }
  int64_t Take() {  // the sum over every thread since the last Take
    std::lock_guard<std::mutex> lock(mu_);
    int64_t sum = 0;
    for (auto& t : threads_) sum += t->exchange(0);
    return sum;
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<std::atomic<int64_t>>> threads_;
};
SpinTotals spin_totals;

void Spin(int64_t ns) {
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::nanoseconds(ns);
  auto now = start;
  while ((now = std::chrono::steady_clock::now()) < end) {
  }
  auto& mine = spin_totals.Mine();
  mine.store(mine.load(std::memory_order_relaxed) + (now - start).count(),
             std::memory_order_relaxed);
}

struct Shape {
  int64_t source_ns, work_ns, sink_ns;
  int work_concurrency;
  int capacity;           // of each channel (millrace); tokens in flight (parallel_pipeline)
  double Bound() const {  // items per second
    const double stage =
        std::min({1e9 / source_ns, work_concurrency * 1e9 / work_ns, 1e9 / sink_ns});
    const double cores = millrace::AvailableCores() * 1e9 / (source_ns + work_ns + sink_ns);
    return std::min(stage, cores);
  }
};

// Arguments: work time (us), work concurrency, capacity. Source 2 us, sink 1 us.
Shape ShapeOf(const benchmark::State& state) {
  return Shape{2000, state.range(0) * 1000, 1000, static_cast<int>(state.range(1)),
               static_cast<int>(state.range(2))};
}

void Report(benchmark::State& state, const Shape& shape) {
  state.SetItemsProcessed(state.iterations() * kItems);
  state.counters["bound_items_per_s"] = shape.Bound();
  state.counters["efficiency"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kItems) / shape.Bound(),
                         benchmark::Counter::kIsRate);
}

// Besides the efficiency, where the CPU time went, per item: in the bodies' spins (the stages'
// nominal times plus each spin's overshoot), in the runtime's code inside the stages' tasks
// (their busy time less the spins: taking, handing on, scheduling), and outside any task
// (between tasks: oneTBB's dispatch, or a thread with nothing to run).
void BM_MillraceGraph(benchmark::State& state) {
  const Shape shape = ShapeOf(state);
  double busy_ns = 0, spun_ns = 0, wall_ns = 0;
  for (auto _ : state) {
    spin_totals.Take();
    millrace::Graph g;
    int64_t next = 0;
    auto src = g.Source<int64_t>("source", millrace::Cpu(1), [&]() -> std::optional<int64_t> {
      if (next == kItems) return std::nullopt;
      Spin(shape.source_ns);
      return next++;
    });
    auto work = g.Map<int64_t>("work", millrace::Cpu(shape.work_concurrency), [&](int64_t x) {
      Spin(shape.work_ns);
      return x;
    });
    auto sink = g.Sink<int64_t>("sink", millrace::Cpu(1), [&](int64_t) { Spin(shape.sink_ns); });
    g.Connect(src, work, shape.capacity).Connect(work, sink, shape.capacity);
    const auto start = std::chrono::steady_clock::now();
    g.Run();
    wall_ns +=
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    spun_ns += static_cast<double>(spin_totals.Take());
    for (const auto& stage : g.Stats().stages) busy_ns += stage.busy_s * 1e9;
  }
  Report(state, shape);
  const double items = static_cast<double>(state.iterations() * kItems);
  state.counters["bodies_ns_per_item"] = spun_ns / items;
  state.counters["in_tasks_ns_per_item"] = (busy_ns - spun_ns) / items;
  state.counters["between_tasks_ns_per_item"] =
      (millrace::AvailableCores() * wall_ns - busy_ns) / items;
}

void BM_TbbParallelPipeline(benchmark::State& state) {
  const Shape shape = ShapeOf(state);
  const auto work_mode =
      shape.work_concurrency == 1 ? tbb::filter_mode::serial_in_order : tbb::filter_mode::parallel;
  for (auto _ : state) {
    int64_t next = 0;
    auto produce = [&](tbb::flow_control& fc) -> int64_t {
      if (next == kItems) {
        fc.stop();
        return 0;
      }
      Spin(shape.source_ns);
      return next++;
    };
    const auto source = tbb::make_filter<void, int64_t>(tbb::filter_mode::serial_in_order, produce);
    const auto work = tbb::make_filter<int64_t, int64_t>(work_mode, [&](int64_t x) {
      Spin(shape.work_ns);
      return x;
    });
    const auto sink = tbb::make_filter<int64_t, void>(tbb::filter_mode::serial_in_order,
                                                      [&](int64_t) { Spin(shape.sink_ns); });
    tbb::parallel_pipeline(shape.capacity, source & work & sink);
  }
  Report(state, shape);
}

// The ceiling of the clock-spin itself on this machine: one thread spinning the work stage's
// time for every item, nothing else (timer ticks and steal show here, not in any runtime).
void BM_SpinAlone(benchmark::State& state) {
  const Shape shape = ShapeOf(state);
  for (auto _ : state) {
    for (int64_t i = 0; i < kItems; ++i) Spin(shape.work_ns);
  }
  state.SetItemsProcessed(state.iterations() * kItems);
  state.counters["efficiency"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kItems) * shape.work_ns / 1e9,
                         benchmark::Counter::kIsRate);
}

// The ceiling of the core-bound case: every core spinning its share of the items' whole time
// (source + work + sink) on its own thread, with no hand-off at all.
void BM_SpinAllCores(benchmark::State& state) {
  const Shape shape = ShapeOf(state);
  const int cores = millrace::AvailableCores();
  const int64_t per_item = shape.source_ns + shape.work_ns + shape.sink_ns;
  spin_totals.Take();
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int t = 0; t < cores; ++t) {
      threads.emplace_back([&, t] {
        for (int64_t i = t; i < kItems; i += cores) Spin(per_item);
      });
    }
    for (auto& thread : threads) thread.join();
  }
  Report(state, shape);
  state.counters["bodies_ns_per_item"] =
      static_cast<double>(spin_totals.Take()) / static_cast<double>(state.iterations() * kItems);
}

// What a cache line costs to cross between two cores, and back: the price of every hand-off
// between stages on different threads. On a VM it changes with where the host puts the vCPUs,
// so it is measured beside the pipelines, in the same run.
void BM_CoreToCoreRoundTrip(benchmark::State& state) {
  constexpr int64_t kTrips = 100000;
  alignas(64) std::atomic<int64_t> ball{0};
  double elapsed_ns = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    ball.store(0);
    std::thread other([&] {
      for (int64_t i = 0; i < kTrips; ++i) {
        while (ball.load(std::memory_order_acquire) != 2 * i + 1) {
        }
        ball.store(2 * i + 2, std::memory_order_release);
      }
    });
    for (int64_t i = 0; i < kTrips; ++i) {
      ball.store(2 * i + 1, std::memory_order_release);
      while (ball.load(std::memory_order_acquire) != 2 * i + 2) {
      }
    }
    other.join();
    elapsed_ns +=
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["round_trip_ns"] = elapsed_ns / static_cast<double>(state.iterations() * kTrips);
}

// {work us, work concurrency, capacity}: {20, 1, 16} is bound by the serial work stage (50k
// items/s, ~1.15 cores busy); {20, 2, 16} by the 2 cores (23 us of work per item). {50, 1},
// {50, 2} and {100, 2} are the same shapes with coarser work items: the runtime's cost per item
// is about the same, so it weighs less. {20, 2, 64}: the fine core-bound shape with 64 items in
// flight per edge (longer runs, fewer hand-offs per item).
void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({20, 1, 16})->Args({50, 1, 16})->Args({20, 2, 16})->Args({50, 2, 16});
  b->Args({100, 2, 16})->Args({20, 2, 64});
}
void CoreBoundShapes(benchmark::internal::Benchmark* b) {
  b->Args({20, 2, 16})->Args({50, 2, 16})->Args({100, 2, 16});
}
BENCHMARK(BM_MillraceGraph)->Apply(Shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TbbParallelPipeline)->Apply(Shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SpinAlone)->Args({20, 1, 16})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SpinAllCores)->Apply(CoreBoundShapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CoreToCoreRoundTrip)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
