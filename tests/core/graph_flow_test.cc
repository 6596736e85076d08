// Items through graphs of every shape: none lost, none duplicated, order kept where asked.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace millrace {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int64_t kScale = 40;  // sanitizers run ~10x slower
#else
constexpr int64_t kScale = 1;
#endif

// A move-only item: the graph must never need a copy.
using Box = std::unique_ptr<int64_t>;

uint64_t Mix(uint64_t x) {  // splitmix64: a checksum that notices a lost or doubled item
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A source body handing on 0, 1, ..., n - 1.
auto Count(int64_t n) {
  return [next = int64_t{0}, n]() mutable -> std::optional<int64_t> {
    if (next == n) return std::nullopt;
    return next++;
  };
}

// Io, Compute and Cpu stages; or only Cpu stages (one oneTBB arena: the fast path, for the
// million-item run — a hop between executors costs a thread wake-up, which capacity-1 edges
// pay for every item).
Placement RandomPlacement(std::mt19937& rng, int concurrency, bool mixed) {
  if (mixed && rng() % 4 == 0) return Io(concurrency);
  return Cpu(concurrency);
}

// source -> map -> filter -> flat-map -> sink, every concurrency in 1..8 and capacity in 1..16
// drawn at random. The filter drops x % 7 == 3; the flat-map emits 2x, and 2x + 1 when
// x % 3 == 0. Checked against the same arithmetic in a plain loop.
void RunFiveStages(uint32_t seed, int64_t n, bool mixed) {
  std::mt19937 rng(seed);
  auto conc = [&] { return static_cast<int>(1 + rng() % 8); };
  auto cap = [&] { return static_cast<int64_t>(1 + rng() % 16); };
  const bool ordered = rng() % 2 == 0;
  SCOPED_TRACE("seed " + std::to_string(seed) + (ordered ? ", in sequence order" : ", arrival"));

  Graph g;
  int64_t next = 0;
  auto source =
      g.Source<Box>("source", mixed && rng() % 2 ? Io() : Cpu(1), [&]() -> std::optional<Box> {
        if (next == n) return std::nullopt;
        return std::make_unique<int64_t>(next++);
      });
  auto map = g.Map<Box>("map", RandomPlacement(rng, conc(), mixed), [](Box b) {
    *b += 1000;
    return b;
  });
  auto filter = g.Filter<Box>("filter", RandomPlacement(rng, conc(), mixed),
                              [](const Box& b) { return (*b - 1000) % 7 != 3; });
  auto flat =
      g.FlatMap<Box, Box>("flat", RandomPlacement(rng, conc(), mixed), [](Box b, Emit<Box>& emit) {
        const int64_t x = *b - 1000;
        *b = 2 * x;
        emit(std::move(b));
        if (x % 3 == 0) emit(std::make_unique<int64_t>(2 * x + 1));
      });
  int64_t count = 0, last = -1;
  uint64_t checksum = 0;
  bool in_order = true;
  auto sink = g.Sink<Box>("sink", mixed && rng() % 2 ? Compute() : Cpu(1), [&](Box b) {
    ++count;
    checksum += Mix(static_cast<uint64_t>(*b));
    in_order = in_order && *b > last;
    last = *b;
  });
  if (!ordered) {
    map.InArrivalOrder();
    filter.InArrivalOrder();
    flat.InArrivalOrder();
  }
  g.Connect(source, map, cap()).Connect(map, filter, cap()).Connect(filter, flat, cap());
  g.Connect(flat, sink, cap());
  g.Run();

  int64_t want_count = 0;
  uint64_t want_checksum = 0;
  for (int64_t x = 0; x < n; ++x) {
    if (x % 7 == 3) continue;
    ++want_count;
    want_checksum += Mix(static_cast<uint64_t>(2 * x));
    if (x % 3 == 0) {
      ++want_count;
      want_checksum += Mix(static_cast<uint64_t>(2 * x + 1));
    }
  }
  EXPECT_EQ(count, want_count);
  EXPECT_EQ(checksum, want_checksum);
  if (ordered) {
    EXPECT_TRUE(in_order) << "items left a sequence-ordered graph out of order";
  }
  const GraphStats stats = g.Stats();
  EXPECT_EQ(stats.stages[0].items_out, static_cast<uint64_t>(n));
  EXPECT_EQ(stats.stages[4].items_in, static_cast<uint64_t>(want_count));
  if (getenv("GRAPH_TEST_REPORT")) std::cout << g.Report();
}

TEST(GraphFlow, MillionItemsThroughRandomFiveStageGraph) {
  RunFiveStages(1, 1000000 / kScale, false);
}

TEST(GraphFlow, RandomFiveStageGraphsManySeeds) {
  for (uint32_t seed = 2; seed < 8; ++seed) RunFiveStages(seed, 20000 / kScale, true);
}

TEST(GraphFlow, CapacityOneChainKeepsOrder) {
  const int64_t n = 20000 / kScale;
  Graph g;
  auto source = g.Source<int64_t>("source", Cpu(1), Count(n));
  auto a = g.Map<int64_t>("a", Cpu(3), [](int64_t x) { return x * 3; });
  auto b = g.Map<int64_t>("b", Io(2), [](int64_t x) { return x + 1; });
  auto c = g.Map<int64_t>("c", Cpu(8), [](int64_t x) { return x - 1; });
  std::vector<int64_t> seen;
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [&](int64_t x) { seen.push_back(x); });
  g.Connect(source, a, 1).Connect(a, b, 1).Connect(b, c, 1).Connect(c, sink, 1);
  g.Run();
  ASSERT_EQ(static_cast<int64_t>(seen.size()), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 3 * i) << "at " << i;
  for (const auto& ch : g.Stats().channels) EXPECT_LE(ch.max_occupancy, 1) << ch.from;
}

TEST(GraphFlow, BatchKeepsPartialBatchOrDropsIt) {
  for (bool keep : {true, false}) {
    Graph g;
    auto source = g.Source<int64_t>("source", Cpu(1), Count(1003));
    auto batch = g.Group<int64_t>("collate", Cpu(1), 10, GroupOptions{keep});
    std::vector<std::vector<int64_t>> batches;
    auto sink = g.Sink<std::vector<int64_t>>("sink", Cpu(1),
                                             [&](std::vector<int64_t> b) { batches.push_back(b); });
    g.Connect(source, batch, 3).Connect(batch, sink, 1);
    g.Run();
    ASSERT_EQ(batches.size(), keep ? 101u : 100u);
    for (size_t i = 0; i < batches.size(); ++i) {
      const size_t size = i == 100 ? 3 : 10;
      ASSERT_EQ(batches[i].size(), size);
      for (size_t j = 0; j < size; ++j) EXPECT_EQ(batches[i][j], static_cast<int64_t>(i * 10 + j));
    }
  }
}

// Batches of a move-only type (a training batch of Tensors is one): each item arrives once,
// in order, in groups of the batch size, the last one partial.
TEST(GraphFlow, BatchOfMoveOnlyItems) {
  Graph g;
  int next = 0;
  auto source = g.Source<std::unique_ptr<int>>(
      "source", Cpu(1), [&]() -> std::optional<std::unique_ptr<int>> {
        if (next == 25) return std::nullopt;
        return std::make_unique<int>(next++);
      });
  auto batch = g.Group<std::unique_ptr<int>>("collate", Cpu(1), 4);
  std::vector<std::vector<int>> batches;
  auto sink = g.Sink<std::vector<std::unique_ptr<int>>>(
      "sink", Cpu(1), [&](std::vector<std::unique_ptr<int>> b) {
        std::vector<int> values;
        for (const auto& p : b) values.push_back(*p);
        batches.push_back(values);
      });
  g.Connect(source, batch, 2).Connect(batch, sink, 1);
  g.Run();
  ASSERT_EQ(batches.size(), 7u);
  for (size_t i = 0; i < batches.size(); ++i) {
    ASSERT_EQ(batches[i].size(), i == 6 ? 1u : 4u);
    for (size_t j = 0; j < batches[i].size(); ++j) EXPECT_EQ(batches[i][j], int(i * 4 + j));
  }
}

TEST(GraphFlow, SequenceNumbersSurviveFilterAndConcurrentMap) {
  // A slow-ish map at concurrency 4, in sequence order: the sink sees sources' order.
  const int64_t n = 5000 / kScale;
  Graph g;
  auto source = g.Source<int64_t>("source", Io(), Count(n));
  auto keep = g.Filter<int64_t>("keep", Cpu(2), [](const int64_t& x) { return x % 10 != 0; });
  auto work = g.Map<int64_t>("work", Cpu(4), [](int64_t x) {
    volatile int64_t spin = 0;
    for (int i = 0; i < (x % 13) * 200; ++i) spin = spin + i;
    return x;
  });
  std::vector<int64_t> seen;
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [&](int64_t x) { seen.push_back(x); });
  g.Connect(source, keep, 4).Connect(keep, work, 2).Connect(work, sink, 2);
  g.Run();
  std::vector<int64_t> want;
  for (int64_t x = 0; x < n; ++x) {
    if (x % 10 != 0) want.push_back(x);
  }
  EXPECT_EQ(seen, want);
}

// A map that passes bad items over (a record that fails to decode, under a skip policy), at
// concurrency 3 in sequence order, and a flat-map that groups items by a key of their own
// (groups of 4 by value, so a group whose last items were skipped still ends) and hands on the
// last group at the end of the data.
TEST(GraphFlow, MapOrSkipCountsSkippedItemsAndFlatMapFlushesItsLastGroup) {
  const int64_t n = 2000 / kScale;
  auto bad = [](int64_t x) { return x % 9 == 2 || x == n - 1; };
  Graph g;
  auto source = g.Source<int64_t>("source", Io(), Count(n));
  auto decode = g.MapOrSkip<int64_t>("decode", Cpu(3), [&](int64_t x) -> std::optional<int64_t> {
    if (bad(x)) return std::nullopt;
    return x;
  });
  auto pending = std::make_shared<std::vector<int64_t>>();
  auto group = g.FlatMap<int64_t, std::vector<int64_t>>(
      "group", Cpu(1),
      [pending](int64_t x, Emit<std::vector<int64_t>>& emit) {
        if (!pending->empty() && pending->front() / 4 != x / 4) emit(std::exchange(*pending, {}));
        pending->push_back(x);
      },
      [pending](Emit<std::vector<int64_t>>& emit) {
        if (!pending->empty()) emit(std::exchange(*pending, {}));
      });
  std::vector<std::vector<int64_t>> seen;
  auto sink = g.Sink<std::vector<int64_t>>("sink", Cpu(1),
                                          [&](std::vector<int64_t> v) { seen.push_back(v); });
  g.Connect(source, decode, 8).Connect(decode, group, 4).Connect(group, sink, 2);
  g.Run();
  std::vector<std::vector<int64_t>> want;
  int64_t skipped = 0;
  for (int64_t x = 0; x < n; ++x) {
    if (bad(x)) {
      ++skipped;
      continue;
    }
    if (want.empty() || want.back().front() / 4 != x / 4) want.emplace_back();
    want.back().push_back(x);
  }
  EXPECT_EQ(seen, want);
  const GraphStats stats = g.Stats();
  EXPECT_EQ(stats.stages[1].items_skipped, static_cast<uint64_t>(skipped));
  EXPECT_EQ(stats.stages[1].items_out, static_cast<uint64_t>(n - skipped));
  EXPECT_EQ(stats.stages[2].items_skipped, 0u);
  EXPECT_NE(stats.ToTable().find("skipped"), std::string::npos) << stats.ToTable();
}

TEST(GraphFlow, FanOutAndJoinPairTeacherWithStudent) {
  const int64_t n = 20000 / kScale;
  Graph g;
  auto source = g.Source<int64_t>("source", Cpu(1), Count(n));
  auto split = g.FanOut<int64_t>("split");
  auto teacher = g.Map<int64_t>("teacher", Cpu(3), [](int64_t x) { return x * 3; });
  teacher.InArrivalOrder();  // pairs are made by sequence number, not by position
  auto student = g.Map<int64_t>("student", Cpu(2), [](int64_t x) { return x + 1; });
  auto join = g.Join<int64_t, int64_t>("pair");
  int64_t count = 0;
  bool matched = true;
  auto sink =
      g.Sink<std::pair<int64_t, int64_t>>("sink", Cpu(1), [&](std::pair<int64_t, int64_t> p) {
        ++count;
        matched = matched && p.first == 3 * (p.second - 1);
      });
  g.Connect(source, split, 4).Connect(split, teacher, 2).Connect(split, student, 1);
  g.Connect(teacher, join.left(), 3).Connect(student, join.right(), 1).Connect(join, sink, 2);
  g.Run();
  EXPECT_EQ(count, n);
  EXPECT_TRUE(matched);
}

// Unequal branches with random capacities and concurrencies: a producer woken only once half of
// a channel is free (or when its consumer stops) must still feed the branch the join waits on.
TEST(GraphFlow, FanOutAndJoinWithRandomCapacitiesNeverStall) {
  for (uint32_t seed = 1; seed <= 24; ++seed) {
    std::mt19937 rng(seed);
    auto capacity = [&] { return static_cast<int64_t>(1 + rng() % 16); };
    auto concurrency = [&] { return static_cast<int>(1 + rng() % 4); };
    const int64_t n = 4000 / kScale;
    const int slow_every = static_cast<int>(2 + rng() % 5);  // the teacher stalls on some items
    Graph g;
    auto source = g.Source<int64_t>("source", Cpu(1), Count(n));
    auto split = g.FanOut<int64_t>("split");
    auto teacher = g.Map<int64_t>("teacher", Cpu(concurrency()), [&](int64_t x) {
      if (x % slow_every == 0) {
        volatile int64_t spin = 0;
        for (int i = 0; i < 2000; ++i) spin = spin + i;
      }
      return x * 3;
    });
    auto student = g.Map<int64_t>("student", Cpu(concurrency()), [](int64_t x) { return x + 1; });
    if (rng() % 2) teacher.InArrivalOrder();
    if (rng() % 2) student.InArrivalOrder();
    auto join = g.Join<int64_t, int64_t>("pair");
    int64_t count = 0;
    uint64_t checksum = 0;
    auto sink =
        g.Sink<std::pair<int64_t, int64_t>>("sink", Cpu(1), [&](std::pair<int64_t, int64_t> p) {
          ++count;
          checksum += Mix(static_cast<uint64_t>(p.first + p.second));
        });
    g.Connect(source, split, capacity()).Connect(split, teacher, capacity());
    g.Connect(split, student, capacity()).Connect(teacher, join.left(), capacity());
    g.Connect(student, join.right(), capacity()).Connect(join, sink, capacity());
    g.Run();
    uint64_t expected = 0;
    for (int64_t x = 0; x < n; ++x) expected += Mix(static_cast<uint64_t>(4 * x + 1));
    EXPECT_EQ(count, n) << "seed " << seed;
    EXPECT_EQ(checksum, expected) << "seed " << seed;
  }
}

TEST(GraphFlow, FanOutOfMoveOnlyItemsUsesTheCopyFunction) {
  const int64_t n = 3000 / kScale;
  Graph g;
  int64_t next = 0;
  auto source = g.Source<Box>("source", Cpu(1), [&]() -> std::optional<Box> {
    if (next == n) return std::nullopt;
    return std::make_unique<int64_t>(next++);
  });
  auto split = g.FanOut<Box>("split", [](const Box& b) { return std::make_unique<int64_t>(*b); });
  auto join = g.Join<Box, Box>("pair", Cpu(1), [](Box a, Box b) { return *a + *b; });
  int64_t sum = 0;
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [&](int64_t x) { sum += x; });
  g.Connect(source, split, 2).Connect(split, join.left(), 2).Connect(split, join.right(), 2);
  g.Connect(join, sink, 2);
  g.Run();
  EXPECT_EQ(sum, n * (n - 1));  // 2 * (0 + 1 + ... + n-1)
}

TEST(GraphFlow, StagesOnTheComputeThreadAndIo) {
  std::atomic<int> init_calls{0};
  thread_local bool on_compute_thread = false;
  GraphOptions options;
  options.device_thread_init = [&](Device d) {
    EXPECT_TRUE(d.is_cpu());
    ++init_calls;
    on_compute_thread = true;
  };
  Graph g(options);
  auto source = g.Source<int64_t>("source", Io(), Count(500));
  bool all_on_compute = true;
  auto a = g.Map<int64_t>("a", Compute(), [&](int64_t x) {
    all_on_compute = all_on_compute && on_compute_thread;
    return x;
  });
  int64_t sum = 0;
  auto sink = g.Sink<int64_t>("b", Compute(), [&](int64_t x) {
    all_on_compute = all_on_compute && on_compute_thread;
    sum += x;
  });
  g.Connect(source, a, 8).Connect(a, sink, 8);
  g.Run();
  EXPECT_EQ(init_calls.load(), 1);  // one thread for both stages
  EXPECT_TRUE(all_on_compute);
  EXPECT_EQ(sum, 500 * 499 / 2);
}

}  // namespace
}  // namespace millrace
