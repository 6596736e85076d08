// Ordered device placement: the stages on one device run in sequence order across those stages
// (item k passes every one of them before item k+1 enters), and device bodies get a context.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/graph/graph.h"

namespace millrace {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int64_t kScale = 20;  // sanitizers run ~10x slower
#else
constexpr int64_t kScale = 1;
#endif

void Spin(int64_t us) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < end) {
  }
}

// source (io) -> prep (cpu) -> d1 -> d2 -> d3 (filter) -> d4 -> d5 (compute) -> post (cpu) ->
// sink, with random delays in every stage and prep's and post's concurrency changed at random
// while it runs. The device stages log (stage, item) as they run; the log must be item 0's
// d1..d5, then item 1's, ...: no stage of the device ever takes item k+1 before item k has
// left it (d3 drops every tenth item, which then leaves after d3).
TEST(OrderedDevice, KeepsSequenceOrderAcrossItsStages) {
  const int64_t n = 100000 / kScale;
  std::mt19937 rng(12345);
  std::vector<std::pair<int, int64_t>> log;  // written by the compute thread only
  log.reserve(static_cast<size_t>(5 * n));
  // A body that sometimes spins, drawn from the item and the stage (bodies of a cpu stage run
  // concurrently: no shared state): 1 in 64 items waits up to 40 us.
  auto delay = [](int64_t x, uint64_t stage) {
    uint64_t h = static_cast<uint64_t>(x) * 0x9e3779b97f4a7c15ULL + stage * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
    if ((h >> 58) == 0) Spin(static_cast<int64_t>((h >> 8) % 40));
  };

  Graph g;
  auto source = g.Source<int64_t>("source", Io(), [next = int64_t{0}, n]() mutable {
    return next < n ? std::optional<int64_t>(next++) : std::nullopt;
  });
  auto prep = g.Map<int64_t>("prep", Cpu(3), [&](int64_t x) {
    delay(x, 0);
    return x;
  });
  auto device_stage = [&](int index) {
    return [&, index](int64_t x) {
      log.emplace_back(index, x);
      delay(x, static_cast<uint64_t>(index));
      return x;
    };
  };
  auto d1 = g.Map<int64_t>("d1", Compute(), device_stage(1));
  auto d2 = g.Map<int64_t>("d2", Compute(), device_stage(2));
  auto d3 = g.Filter<int64_t>("d3", Compute(), [&](const int64_t& x) {
    log.emplace_back(3, x);
    return x % 10 != 7;
  });
  auto d4 = g.Map<int64_t>("d4", Compute(), device_stage(4));
  auto d5 = g.Map<int64_t>("d5", Compute(), device_stage(5));
  auto post = g.Map<int64_t>("post", Cpu(2), [&](int64_t x) {
    delay(x, 6);
    return x;
  });
  std::atomic<int64_t> received{0};
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [&](int64_t) { received.fetch_add(1); });
  g.Connect(source, prep, 16)
      .Connect(prep, d1, 1 + static_cast<int64_t>(rng() % 8))
      .Connect(d1, d2, 1 + static_cast<int64_t>(rng() % 4))
      .Connect(d2, d3, 1 + static_cast<int64_t>(rng() % 4))
      .Connect(d3, d4, 1 + static_cast<int64_t>(rng() % 4))
      .Connect(d4, d5, 1 + static_cast<int64_t>(rng() % 4))
      .Connect(d5, post, 1 + static_cast<int64_t>(rng() % 8))
      .Connect(post, sink, 8);

  std::atomic<bool> done{false};
  std::thread tuner([&] {
    std::mt19937 r(99);
    while (!done.load()) {
      g.SetConcurrency("prep", 1 + static_cast<int>(r() % 4));
      g.SetConcurrency("post", 1 + static_cast<int>(r() % 4));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  g.Run();
  done.store(true);
  tuner.join();

  std::vector<std::pair<int, int64_t>> expected;
  expected.reserve(log.size());
  for (int64_t k = 0; k < n; ++k) {
    for (int stage = 1; stage <= 5; ++stage) {
      expected.emplace_back(stage, k);
      if (stage == 3 && k % 10 == 7) break;
    }
  }
  ASSERT_EQ(log.size(), expected.size());
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i], expected[i]) << "entry " << i << " of the device's log";
  }
  EXPECT_EQ(received.load(), n - n / 10 - (n % 10 > 7 ? 1 : 0));
}

// Two entries on one device (a teacher beside a student, fed by a fan-out): each item still
// passes the student's chain before the next item enters the device, and the join pairs each
// teacher output with its student item.
TEST(OrderedDevice, TwoEntriesShareTheDeviceOneItemAtATime) {
  const int64_t n = 20000 / kScale;
  std::vector<std::pair<int, int64_t>> log;  // compute thread only
  Graph g;
  auto source = g.Source<int64_t>("source", Io(), [next = int64_t{0}, n]() mutable {
    return next < n ? std::optional<int64_t>(next++) : std::nullopt;
  });
  auto fan = g.FanOut<int64_t>("fan");
  auto teacher = g.Map<int64_t>("teacher", Compute(), [&](int64_t x) {
    log.emplace_back(0, x);
    return 3 * x;
  });
  auto pass = g.Map<int64_t>("pass", Cpu(2), [](int64_t x) { return x; });
  auto join = g.Join<int64_t, int64_t>("join", Cpu(1), [](int64_t student, int64_t teach) {
    return std::make_pair(student, teach);
  });
  using Pair = std::pair<int64_t, int64_t>;
  auto forward = g.Map<Pair>("forward", Compute(), [&](Pair p) {
    log.emplace_back(1, p.first);
    return p;
  });
  auto step = g.Map<Pair>("step", Compute(), [&](Pair p) {
    log.emplace_back(2, p.first);
    return p;
  });
  int64_t bad_pairs = 0, count = 0;
  auto sink = g.Sink<Pair>("sink", Cpu(1), [&](Pair p) {
    bad_pairs += p.second != 3 * p.first;
    ++count;
  });
  g.Connect(source, fan, 8)
      .Connect(fan, teacher, 4)
      .Connect(fan, pass, 4)
      .Connect(teacher, join.right(), 4)
      .Connect(pass, join.left(), 4)
      .Connect(join, forward, 2)
      .Connect(forward, step, 1)
      .Connect(step, sink, 4);
  g.Run();
  EXPECT_EQ(count, n);
  EXPECT_EQ(bad_pairs, 0);
  // forward(k) is always followed at once by step(k): nothing enters between them.
  int64_t next_forward = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].first != 1) continue;
    ASSERT_EQ(log[i].second, next_forward++);
    ASSERT_LT(i + 1, log.size());
    ASSERT_EQ(log[i + 1], std::make_pair(2, log[i].second));
  }
  EXPECT_EQ(next_forward, n);
}

// The report treats a device as one unit: its stages' busy shares add up, and the stage that
// feeds it is blocked on it.
TEST(OrderedDevice, ReportNamesTheDeviceAsTheBottleneck) {
  Graph g;
  auto source = g.Source<int>("source", Cpu(1), [next = 0]() mutable {
    return next < 400 / static_cast<int>(kScale) ? std::optional<int>(next++) : std::nullopt;
  });
  auto forward = g.Map<int>("forward", Compute(), [](int x) {
    Spin(300);
    return x;
  });
  auto backward = g.Map<int>("backward", Compute(), [](int x) {
    Spin(600);
    return x;
  });
  auto sink = g.Sink<int>("sink", Cpu(1), [](int) {});
  g.Connect(source, forward, 2).Connect(forward, backward, 1).Connect(backward, sink, 2);
  g.Run();
  const GraphStats s = g.Stats();
  const std::string sentence = s.BottleneckSentence();
  EXPECT_NE(sentence.find("the compute device is the bottleneck"), std::string::npos) << sentence;
  EXPECT_NE(sentence.find("backward"), std::string::npos) << sentence;
  EXPECT_NE(sentence.find("source was blocked"), std::string::npos) << sentence;
  // Inside the device a stage waits for the other stages, not for data: not counted starved.
  for (const StageStats& st : s.stages) {
    if (st.name == "backward") EXPECT_LT(st.starved_fraction, 0.05) << g.Report();
  }
}

// A body placed on Compute() gets the CPU's context: no stream, nothing in flight.
TEST(DeviceContext, ComputeBodiesGetTheCpuContext) {
  Graph g;
  auto source = g.Source<int>("source", Io(), [next = 0]() mutable {
    return next < 100 ? std::optional<int>(next++) : std::nullopt;
  });
  std::vector<std::string> seen;  // compute thread, then the sink's
  auto map = g.Map<int>("map", Compute(), [&](int x, DeviceContext& ctx) {
    seen.push_back(ctx.device().ToString() + (ctx.stream() == nullptr ? " no-stream" : ""));
    ctx.HandOnInFlight();  // a no-op without a stream
    return x + 1;
  });
  int64_t sum = 0;
  auto sink = g.Sink<int>("sink", Cpu(1), [&](int x, DeviceContext& ctx) {
    EXPECT_TRUE(ctx.device().is_cpu());
    sum += x;
  });
  g.Connect(source, map, 4).Connect(map, sink, 4);
  g.Run();
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_EQ(seen.front(), "cpu no-stream");
  EXPECT_EQ(sum, 100 * 101 / 2);
}

// A body placed on Gpu(0) gets that device, its stream, and hands items on in flight.
TEST(DeviceContext, GpuBodiesGetTheDeviceAndItsStream) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << CudaUnavailableReason();
  Graph g;
  auto source = g.Source<int>("source", Io(), [next = 0]() mutable {
    return next < 50 ? std::optional<int>(next++) : std::nullopt;
  });
  std::vector<Device> devices;
  std::vector<void*> streams;
  auto map = g.Map<int>("gpu-map", Gpu(0), [&](int x, DeviceContext& ctx) {
    devices.push_back(ctx.device());
    streams.push_back(ctx.stream());
    ctx.HandOnInFlight();  // the host sink below waits for the recorded event
    return 2 * x;
  });
  int64_t sum = 0;
  auto sink = g.Sink<int>("sink", Cpu(1), [&](int x) { sum += x; });
  g.Connect(source, map, 4).Connect(map, sink, 4);
  g.Run();
  ASSERT_EQ(devices.size(), 50u);
  EXPECT_EQ(devices.front(), Device::Cuda(0));
  EXPECT_NE(streams.front(), nullptr);
  EXPECT_EQ(streams.front(), streams.back());  // one stream per device
  EXPECT_EQ(sum, 2 * 49 * 50 / 2);
}

}  // namespace
}  // namespace millrace
