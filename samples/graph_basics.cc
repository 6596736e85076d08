// graph_basics: numbers flow from a source, fan out to two branches, pair up again by sequence
// number (as a teacher branch beside a student branch does) and end in a sink.
//
//   numbers (io) ──▶ split ──▶ square (cpu x2) ──▶ pair ──▶ sum (compute)
//                        └───▶ negate (cpu)   ─────┘
//
#include <iostream>
#include <optional>
#include <utility>

#include "core/graph/graph.h"

using namespace millrace;

int main() {
  Graph g;
  int next = 0;
  auto numbers = g.Source<int>("numbers", Io(), [&]() -> std::optional<int> {
    if (next == 1000) return std::nullopt;  // end of data
    return next++;
  });
  auto split = g.FanOut<int>("split");  // each item to both branches
  auto square = g.Map<int>("square", Cpu(2), [](int x) { return x * x; });
  auto negate = g.Map<int>("negate", Cpu(1), [](int x) { return -x; });
  auto pair = g.Join<int, int>("pair");
  long sum = 0;
  auto total = g.Sink<std::pair<int, int>>(
      "sum", Compute(), [&](std::pair<int, int> p) { sum += p.first + p.second; });
  g.Connect(numbers, split, 64).Connect(split, square, 16).Connect(split, negate, 16);
  g.Connect(square, pair.left(), 16).Connect(negate, pair.right(), 16).Connect(pair, total, 16);
  g.Run();  // rethrows the first error, naming its stage
  std::cout << "sum of x*x - x for x < 1000: " << sum << "\n\n" << g.Report();
  return sum == 332334000 ? 0 : 1;
}
