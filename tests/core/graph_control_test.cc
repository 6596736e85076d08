// Back-pressure without spinning, concurrency changed while running, statistics, the report's
// bottleneck, and the Chrome trace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "core/graph/graph.h"

namespace millrace {
namespace {

using ::testing::HasSubstr;

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

TEST(GraphControl, SlowConsumerBlocksTheProducerWithoutSpinning) {
  // The source could make items endlessly fast; the sink sleeps 20 ms per item. While the sink
  // sleeps, the source must be blocked on the full channel, using no CPU.
  Graph g;
  std::atomic<int64_t> made{0};
  auto source = g.Source<int64_t>("fast", Cpu(1), [&]() -> std::optional<int64_t> {
    const int64_t n = made.fetch_add(1);
    if (n == 1000) return std::nullopt;
    return n;
  });
  auto map = g.Map<int64_t>("double", Cpu(2), [](int64_t x) { return 2 * x; });
  std::atomic<int64_t> consumed{0};
  int64_t max_ahead = 0;
  auto sink = g.Sink<int64_t>("slow", Io(), [&](int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    max_ahead = std::max(max_ahead, made.load() - consumed.load());
    ++consumed;
  });
  g.Connect(source, map, 2).Connect(map, sink, 2);

  double cpu_blocked = 0, wall_blocked = 0;
  std::thread watcher([&] {
    while (consumed.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // The pipeline is full now: measure over 15 sink items (~300 ms).
    const double cpu0 = ProcessCpuSeconds(), wall0 = WallSeconds();
    while (consumed.load() < 17) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cpu_blocked = ProcessCpuSeconds() - cpu0;
    wall_blocked = WallSeconds() - wall0;
    g.Cancel();
  });
  EXPECT_THROW(g.Run(), Error);  // cancelled
  watcher.join();
  // A spinning producer would burn ~one core (cpu ~ wall); blocked threads burn ~nothing.
  EXPECT_LT(cpu_blocked, 0.25 * wall_blocked)
      << "cpu " << cpu_blocked << " s over " << wall_blocked << " s of wall time";
  // Items ahead of the sink: both channels (2 + 2), one in the map, one in the sink, one being
  // made by the source.
  EXPECT_LE(max_ahead, 2 + 2 + 1 + 1 + 1);
  const GraphStats stats = g.Stats();
  // ~100% in a Release build; sanitizer builds leave woken tasks queued for long (loose bound).
  EXPECT_GT(stats.stages[0].blocked_fraction, 0.2) << g.Report();
  EXPECT_THAT(g.Report(), HasSubstr("slow is the bottleneck"));
}

TEST(GraphControl, ConcurrencyChangesWhileRunning) {
  GraphOptions options;
  options.cpu_threads = 6;  // the bodies sleep: more threads than cores, on purpose
  Graph g(options);
  std::atomic<int64_t> next{0};
  std::atomic<int> inside{0}, max_inside{0};
  std::atomic<int> allowed{1};
  std::atomic<bool> over_limit{false};
  auto source = g.Source<int64_t>("source", Cpu(1), [&]() -> std::optional<int64_t> {
    const int64_t n = next.fetch_add(1);
    if (n == 400) return std::nullopt;
    return n;
  });
  auto work = g.Map<int64_t>("work", Cpu(1), [&](int64_t x) {
    const int now = ++inside;
    if (now > allowed.load()) over_limit = true;
    int seen = max_inside.load();
    while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --inside;
    return x;
  });
  work.InArrivalOrder();
  int64_t count = 0, sum = 0;
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [&](int64_t x) {
    ++count;
    sum += x;
  });
  g.Connect(source, work, 16).Connect(work, sink, 16);
  std::atomic<int> phase_max{0};
  std::thread tuner([&] {
    while (next.load() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    phase_max = max_inside.load();  // at concurrency 1
    allowed = 4;                    // raise first, so no body can overshoot the check
    g.SetConcurrency("work", 4);
    EXPECT_EQ(g.Concurrency("work"), 4);
  });
  g.Run();
  tuner.join();
  EXPECT_EQ(phase_max.load(), 1);
  EXPECT_FALSE(over_limit.load());
  EXPECT_GE(max_inside.load(), 2) << "the raised concurrency was never used";
  EXPECT_LE(max_inside.load(), 4);
  EXPECT_EQ(count, 400);
  EXPECT_EQ(sum, 400 * 399 / 2);
}

TEST(GraphControl, StatsWhileRunningAndAfter) {
  Graph g;
  std::atomic<bool> release{false};
  int64_t next = 0;
  auto source = g.Source<int64_t>("source", Cpu(1), [&]() -> std::optional<int64_t> {
    if (next == 200) return std::nullopt;
    return next++;
  });
  auto gate = g.Map<int64_t>("gate", Cpu(1), [&](int64_t x) {
    while (x == 100 && !release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return x;
  });
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [](int64_t) {});
  g.Connect(source, gate, 8).Connect(gate, sink, 8);
  std::thread observer([&] {
    // The gate holds item 100; the graph stands still once the source is blocked on the
    // channel before the gate. (A blocked producer is woken when half of its channel is free,
    // so the channel holds between 4 and 8 items then.)
    GraphStats s;
    uint64_t made = 0;
    do {
      made = s.stages.empty() ? 0 : s.stages[0].items_out;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      s = g.Stats();
    } while (s.stages[1].items_in < 101 || s.channels[0].size < 4 || s.stages[0].items_out != made);
    EXPECT_TRUE(s.running);
    EXPECT_GE(s.channels[0].size, 4);
    EXPECT_LE(s.channels[0].size, 8);
    // None made beyond the room.
    EXPECT_EQ(s.stages[0].items_out, s.stages[1].items_in + s.channels[0].size);
    EXPECT_LE(s.stages[1].items_in, 108u);  // one run takes at most what waits (8)
    EXPECT_LE(s.stages[2].items_in, 100u);
    EXPECT_FALSE(s.stages[0].finished);
    EXPECT_GT(s.stages[0].blocked_s, 0.0);
    release = true;
  });
  g.Run();
  observer.join();
  const GraphStats s = g.Stats();
  EXPECT_FALSE(s.running);
  ASSERT_EQ(s.stages.size(), 3u);
  EXPECT_EQ(s.stages[0].items_out, 200u);
  EXPECT_EQ(s.stages[1].items_in, 200u);
  EXPECT_EQ(s.stages[1].items_out, 200u);
  EXPECT_EQ(s.stages[2].items_in, 200u);
  for (const auto& st : s.stages) EXPECT_TRUE(st.finished) << st.name;
  EXPECT_LE(s.channels[0].max_occupancy, 8);
  EXPECT_EQ(s.channels[0].items, 200u);
  EXPECT_THAT(g.Report(), HasSubstr("gate is the bottleneck"));
}

TEST(GraphControl, ReportNamesTheBottleneckAndWhoWaits) {
  Graph g;
  int64_t next = 0;
  auto source = g.Source<int64_t>("read", Io(), [&]() -> std::optional<int64_t> {
    if (next == 100) return std::nullopt;
    return next++;
  });
  auto augment = g.Map<int64_t>("augment", Cpu(1), [](int64_t x) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return x;
  });
  auto train = g.Sink<int64_t>("train", Compute(), [](int64_t) {});
  g.Connect(source, augment, 4).Connect(augment, train, 4);
  g.Run();
  const GraphStats s = g.Stats();
  EXPECT_EQ(s.Bottleneck()->name, "augment");
  // augment sleeps 2 ms per item; the others take microseconds (loose bounds: sanitizer builds
  // and a loaded machine stretch the start-up).
  EXPECT_GT(s.stages[1].busy_fraction, 0.3);
  EXPECT_GT(s.stages[2].starved_fraction, 0.3);
  EXPECT_GT(s.stages[0].blocked_fraction, 0.3);
  const std::string sentence = s.BottleneckSentence();
  EXPECT_THAT(sentence, HasSubstr("augment is the bottleneck: busy "));
  EXPECT_THAT(sentence, HasSubstr("at concurrency 1"));
  EXPECT_THAT(sentence, HasSubstr("train waited "));
  EXPECT_THAT(sentence, HasSubstr("on an empty input from augment"));
  EXPECT_THAT(sentence, HasSubstr("read was blocked "));
}

TEST(GraphControl, TraceIsChromeJsonWithSpansOfEveryStage) {
  GraphOptions options;
  options.trace_spans_per_stage = 64;  // a ring buffer: a long run keeps the newest 64
  Graph g(options);
  int64_t next = 0;
  auto source = g.Source<int64_t>("read", Io(), [&]() -> std::optional<int64_t> {
    if (next == 3000) return std::nullopt;
    return next++;
  });
  auto augment = g.Map<int64_t>("augment", Cpu(2), [](int64_t x) { return x + 1; });
  auto keep = g.Filter<int64_t>("keep", Cpu(1), [](const int64_t& x) { return x % 2 == 0; });
  auto batch = g.Group<int64_t>("collate", Cpu(1), 8);
  auto train = g.Sink<std::vector<int64_t>>("train", Compute(), [](std::vector<int64_t>) {});
  g.Connect(source, augment, 1).Connect(augment, keep, 1).Connect(keep, batch, 1);
  g.Connect(batch, train, 1);
  g.Run();
  const auto path = std::filesystem::temp_directory_path() /
                    ("millrace_trace_" + std::to_string(::getpid()) + ".json");
  g.WriteTrace(path.string());
  std::ifstream in(path);
  const nlohmann::json doc = nlohmann::json::parse(in);  // throws if not JSON
  std::filesystem::remove(path);
  ASSERT_TRUE(doc.contains("traceEvents"));
  std::map<std::string, int> spans;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    EXPECT_GE(e["ts"].get<double>(), 0.0);
    EXPECT_GE(e["args"]["items"].get<int>(), 1);
    ++spans[e["name"].get<std::string>()];
  }
  for (const char* stage : {"read", "augment", "keep", "collate", "train"}) {
    EXPECT_GE(spans[stage], 1) << stage;
    EXPECT_LE(spans[stage], 64) << stage;
  }
  EXPECT_EQ(spans.size(), 5u);
  EXPECT_THROW(g.WriteTrace("/nonexistent-dir/trace.json"), Error);
}

}  // namespace
}  // namespace millrace
