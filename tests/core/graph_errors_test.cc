// Errors, cancellation and validation: Run() rethrows the first error naming its stage, returns
// promptly (ctest's timeout catches a hang), and a bad graph is refused before it runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/graph/graph.h"

namespace millrace {
namespace {

using ::testing::HasSubstr;

// Runs `g` expecting a millrace::Error; returns it.
Error RunExpectingError(Graph& g) {
  try {
    g.Run();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "Run() threw something other than millrace::Error: " << e.what();
    return Error(ErrorKind::kInternal, "wrong type");
  }
  ADD_FAILURE() << "Run() did not throw";
  return Error(ErrorKind::kInternal, "no error");
}

// An endless source -> a -> b -> c -> sink with random concurrencies and capacities; stage
// `bad` throws at its item number `at`.
void ThrowFrom(const std::string& bad, int64_t at, uint32_t seed, bool millrace_error) {
  std::mt19937 rng(seed);
  auto conc = [&] { return static_cast<int>(1 + rng() % 4); };
  auto cap = [&] { return static_cast<int64_t>(1 + rng() % 8); };
  Graph g;
  std::atomic<int64_t> count_a{0}, count_b{0}, count_c{0}, count_sink{0};
  int64_t next = 0;
  auto maybe_throw = [&](const std::string& stage, std::atomic<int64_t>& counter) {
    if (stage == bad && counter.fetch_add(1) == at) {
      if (millrace_error) MILLRACE_THROW(ErrorKind::kData, "bad record " << at);
      throw std::runtime_error("boom at " + std::to_string(at));
    }
  };
  auto source = g.Source<int64_t>("source", Io(), [&]() -> std::optional<int64_t> {
    std::atomic<int64_t> unused{next};
    if (next == at) maybe_throw("source", unused);
    return next++;  // never ends: only the error stops the graph
  });
  auto a = g.Map<int64_t>("a", Cpu(conc()), [&](int64_t x) {
    maybe_throw("a", count_a);
    return x;
  });
  auto b = g.Filter<int64_t>("b", Cpu(conc()), [&](const int64_t& x) {
    maybe_throw("b", count_b);
    return x % 2 == 0;
  });
  auto c = g.FlatMap<int64_t, int64_t>("c", Io(conc()), [&](int64_t x, Emit<int64_t>& emit) {
    maybe_throw("c", count_c);
    emit(x);
    emit(x + 1);
  });
  auto sink = g.Sink<int64_t>("sink", Compute(), [&](int64_t) { maybe_throw("sink", count_sink); });
  g.Connect(source, a, cap()).Connect(a, b, cap()).Connect(b, c, cap()).Connect(c, sink, cap());
  const Error e = RunExpectingError(g);
  EXPECT_EQ(e.stage(), bad);
  EXPECT_THAT(e.what(), HasSubstr("'" + bad + "'"));
  if (millrace_error) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_THAT(e.what(), HasSubstr("bad record " + std::to_string(at)));
  } else {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_THAT(e.what(), HasSubstr("boom at " + std::to_string(at)));
  }
  EXPECT_FALSE(g.Stats().running);
}

TEST(GraphErrors, ExceptionFromARandomStageAtARandomItem) {
  std::mt19937 rng(7);
  const char* stages[] = {"source", "a", "b", "c", "sink"};
  for (int trial = 0; trial < 20; ++trial) {
    const std::string bad = stages[rng() % 5];
    const int64_t at = rng() % 2000;
    SCOPED_TRACE("trial " + std::to_string(trial) + ": stage " + bad + " at item " +
                 std::to_string(at));
    ThrowFrom(bad, at, rng(), trial % 3 == 0);
  }
}

TEST(GraphErrors, ExceptionAtTheFirstItem) { ThrowFrom("c", 0, 1, false); }

TEST(GraphErrors, CancelFromAnotherThreadMidRun) {
  Graph g;
  std::atomic<int64_t> seen{0};
  int64_t next = 0;
  auto source = g.Source<int64_t>("source", Cpu(1), [&]() -> std::optional<int64_t> {
    return next++;  // endless
  });
  auto work = g.Map<int64_t>("work", Cpu(2), [](int64_t x) { return x * 2; });
  auto sink = g.Sink<int64_t>("sink", Cpu(1), [&](int64_t) { ++seen; });
  g.Connect(source, work, 4).Connect(work, sink, 4);
  std::thread canceller([&] {
    while (seen.load() < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    g.Cancel();
  });
  const Error e = RunExpectingError(g);
  canceller.join();
  EXPECT_EQ(e.kind(), ErrorKind::kCancelled);
  EXPECT_TRUE(g.cancelled());
  const int64_t after = seen.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(seen.load(), after) << "a body ran after Run() returned";
}

TEST(GraphErrors, CancelBeforeRunMakesRunReturnAtOnce) {
  Graph g;
  auto source = g.Source<int>("source", Cpu(1), [] { return std::optional<int>(1); });
  auto sink = g.Sink<int>("sink", Cpu(1), [](int) {});
  g.Connect(source, sink, 1);
  g.Cancel();
  EXPECT_EQ(RunExpectingError(g).kind(), ErrorKind::kCancelled);
}

TEST(GraphErrors, SigintCancelsTheGraphWhileTheGuardLives) {
  Graph g;
  std::atomic<int64_t> seen{0};
  auto source = g.Source<int>("source", Io(), [] { return std::optional<int>(1); });
  auto sink = g.Sink<int>("sink", Cpu(1), [&](int) { ++seen; });
  g.Connect(source, sink, 2);
  CancelOnSigint guard(g);
  std::thread raiser([&] {
    while (seen.load() < 100) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::raise(SIGINT);
  });
  const Error e = RunExpectingError(g);
  raiser.join();
  EXPECT_EQ(e.kind(), ErrorKind::kCancelled);
}

TEST(GraphErrors, DeviceThreadInitFailureFailsRun) {
  GraphOptions options;
  options.device_thread_init = [](Device) { throw std::runtime_error("no budget"); };
  Graph g(options);
  int next = 0;
  auto source = g.Source<int>("source", Cpu(1), [&]() -> std::optional<int> {
    if (next == 100) return std::nullopt;
    return next++;
  });
  auto sink = g.Sink<int>("train", Compute(), [](int) {});
  g.Connect(source, sink, 2);
  const Error e = RunExpectingError(g);
  EXPECT_THAT(e.what(), HasSubstr("no budget"));
  EXPECT_THAT(e.what(), HasSubstr("compute thread"));
}

TEST(GraphErrors, JoinWithAnUnpairedItemFails) {
  Graph g;
  int next = 0;
  auto source = g.Source<int>("source", Cpu(1), [&]() -> std::optional<int> {
    if (next == 50) return std::nullopt;
    return next++;
  });
  auto split = g.FanOut<int>("split");
  auto drop = g.Filter<int>("drop", Cpu(1), [](const int& x) { return x != 17; });
  auto join = g.Join<int, int>("pair");
  auto sink = g.Sink<std::pair<int, int>>("sink", Cpu(1), [](std::pair<int, int>) {});
  g.Connect(source, split, 2).Connect(split, drop, 2).Connect(split, join.right(), 2);
  g.Connect(drop, join.left(), 2).Connect(join, sink, 2);
  const Error e = RunExpectingError(g);
  EXPECT_EQ(e.stage(), "pair");
  EXPECT_THAT(e.what(), HasSubstr("seq 17"));
  EXPECT_THAT(e.what(), HasSubstr("'split'"));
}

// ---- validation ----

std::string ValidationError(Graph& g) {
  try {
    g.Validate();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "Validate() accepted the graph";
  return "";
}

std::optional<int> Nothing() { return std::nullopt; }

TEST(GraphValidation, DuplicateNames) {
  Graph g;
  auto s = g.Source<int>("same", Cpu(1), Nothing);
  auto k = g.Sink<int>("same", Cpu(1), [](int) {});
  g.Connect(s, k, 1);
  EXPECT_THAT(ValidationError(g), HasSubstr("two stages are named 'same'"));
}

TEST(GraphValidation, UnconnectedInputAndOutput) {
  Graph g1;
  g1.Source<int>("read", Cpu(1), Nothing);
  g1.Sink<int>("train", Cpu(1), [](int) {});
  EXPECT_THAT(ValidationError(g1), HasSubstr("stage 'read' has its output unconnected"));

  Graph g2;
  auto s = g2.Source<int>("read", Cpu(1), Nothing);
  auto m = g2.Map<int>("augment", Cpu(1), [](int x) { return x; });
  auto k = g2.Sink<int>("train", Cpu(1), [](int) {});
  g2.Connect(s, k, 1);
  (void)m;
  EXPECT_THAT(ValidationError(g2), HasSubstr("stage 'augment' has nothing connected to its input"));
}

TEST(GraphValidation, ZeroCapacityNamesBothStages) {
  Graph g;
  auto s = g.Source<int>("read", Cpu(1), Nothing);
  auto k = g.Sink<int>("train", Cpu(1), [](int) {});
  g.Connect(s, k, 0);
  const std::string what = ValidationError(g);
  EXPECT_THAT(what, HasSubstr("from 'read' to 'train' has capacity 0"));
}

TEST(GraphValidation, Cycle) {
  Graph g;
  auto s = g.Source<int>("read", Cpu(1), Nothing);
  auto join = g.Join<int, int>("mix");
  auto a = g.Map<std::pair<int, int>>("a", Cpu(1), [](std::pair<int, int> p) { return p.first; });
  auto split = g.FanOut<int>("split");
  auto k = g.Sink<int>("train", Cpu(1), [](int) {});
  g.Connect(s, join.left(), 1).Connect(join, a, 1).Connect(a, split, 1);
  g.Connect(split, join.right(), 1).Connect(split, k, 1);
  EXPECT_THAT(ValidationError(g), HasSubstr("cycle: 'mix' -> 'a' -> 'split' -> 'mix'"));
}

TEST(GraphValidation, TwoConsumersNeedAFanOutAndTwoProducersAJoin) {
  Graph g1;
  auto s = g1.Source<int>("read", Cpu(1), Nothing);
  auto k1 = g1.Sink<int>("left", Cpu(1), [](int) {});
  auto k2 = g1.Sink<int>("right", Cpu(1), [](int) {});
  g1.Connect(s, k1, 1).Connect(s, k2, 1);
  EXPECT_THAT(ValidationError(g1), HasSubstr("stage 'read' feeds 2 consumers"));

  Graph g2;
  auto s1 = g2.Source<int>("one", Cpu(1), Nothing);
  auto s2 = g2.Source<int>("two", Cpu(1), Nothing);
  auto k = g2.Sink<int>("train", Cpu(1), [](int) {});
  g2.Connect(s1, k, 1).Connect(s2, k, 1);
  EXPECT_THAT(ValidationError(g2), HasSubstr("stage 'train' has two producers"));

  Graph g3;
  auto s3 = g3.Source<int>("one", Cpu(1), Nothing);
  auto join = g3.Join<int, int>("pair");
  auto k3 = g3.Sink<std::pair<int, int>>("train", Cpu(1), [](std::pair<int, int>) {});
  g3.Connect(s3, join.left(), 1).Connect(join, k3, 1);
  EXPECT_THAT(ValidationError(g3), HasSubstr("stage 'pair' has nothing connected to its right()"));
}

TEST(GraphValidation, BadArgumentsAndSecondRun) {
  EXPECT_THROW(Cpu(0), Error);
  EXPECT_THROW(Io(-1), Error);
  Graph g;
  EXPECT_THROW(g.Group<int>("collate", Cpu(1), 0), Error);
  auto s = g.Source<int>("read", Cpu(1), Nothing);
  auto k = g.Sink<int>("train", Cpu(1), [](int) {});
  g.Connect(s, k, 1);
  EXPECT_THROW(g.SetConcurrency("nope", 2), Error);
  EXPECT_THROW(g.SetConcurrency("train", 0), Error);
  g.Run();  // empty data: ends at once
  EXPECT_THROW(g.Run(), Error);
}

}  // namespace
}  // namespace millrace
