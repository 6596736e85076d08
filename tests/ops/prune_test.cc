// Pruning against hand-worked examples: rounding, ties, composition, global and structured
// pruning, remove(), the cubic schedule, masks through optimizer steps and the report.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/optim/sgd.h"
#include "ops/prune/magnitude.h"
#include "ops/prune/report.h"
#include "ops/prune/schedule.h"

namespace millrace::ops {
namespace {

Parameter Param(std::string name, Shape shape, std::vector<float> values) {
  Parameter p;
  p.name = std::move(name);
  p.value = Tensor::FromVector(shape, values);
  p.grad = Tensor::Zeros(shape);
  return p;
}

std::vector<float> Mask(const Parameter& p) {
  auto s = p.mask.span<float>();
  return {s.begin(), s.end()};
}

std::vector<int64_t> PrunedIndices(const Parameter& p) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < p.mask.numel(); ++i) {
    if (p.mask.data<float>()[i] == 0) out.push_back(i);
  }
  return out;
}

TEST(L1Unstructured, FractionRoundsHalfToEven) {
  const std::vector<float> w = {0.1f, -0.5f, 0.3f, -0.05f, 0.9f};
  // round(0.5 * 5) = round(2.5) = 2: the two smallest |w| are 0.05 (index 3) and 0.1 (index 0).
  Parameter p = Param("w", {5}, w);
  L1Unstructured(p, PruneAmount::Fraction(0.5));
  EXPECT_EQ(Mask(p), (std::vector<float>{0, 1, 1, 0, 1}));
  EXPECT_EQ(p.value.data<float>()[3], 0.0f);
  EXPECT_EQ(p.value.data<float>()[1], -0.5f);
  // round(1.5) = 2, round(3.5) = 4, round(0.5) = 0, round(4.5) = 4 (Python's round).
  struct Case {
    double fraction;
    int64_t n;
    int64_t pruned;
  };
  for (Case c : {Case{0.3, 5, 2}, Case{0.7, 5, 4}, Case{0.1, 5, 0}, Case{0.5, 9, 4},
                 Case{0.5, 7, 4}, Case{1.0, 5, 5}, Case{0.0, 5, 0}}) {
    std::vector<float> values(c.n);
    for (int64_t i = 0; i < c.n; ++i) values[i] = static_cast<float>(i + 1);
    Parameter q = Param("q", {c.n}, values);
    L1Unstructured(q, PruneAmount::Fraction(c.fraction));
    EXPECT_EQ(PrunedCount(q), c.pruned) << c.fraction << " of " << c.n;
    // The smallest ones go: 1..pruned.
    for (int64_t i = 0; i < c.n; ++i) EXPECT_EQ(q.mask.data<float>()[i], i < c.pruned ? 0 : 1);
  }
}

TEST(L1Unstructured, CountAndErrors) {
  Parameter p = Param("fc.weight", {2, 3}, {4, -1, 3, 0.5f, -6, 2});
  L1Unstructured(p, PruneAmount::Count(3));  // 0.5, -1, 2
  EXPECT_EQ(Mask(p), (std::vector<float>{1, 0, 1, 0, 1, 0}));
  try {
    L1Unstructured(p, PruneAmount::Count(4));  // only 3 left unpruned
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("fc.weight"), std::string::npos) << e.what();
  }
  EXPECT_THROW(PruneAmount::Fraction(1.5), Error);
  EXPECT_THROW(PruneAmount::Count(-1), Error);
}

TEST(L1Unstructured, TiesFollowTorchCpuTopK) {
  // 5 equal entries, 2 to prune: k * 64 > n, so torch runs nth_element(first, first + 1, last).
  // By hand (libstdc++): the median-of-three swaps index 2 to the front, the unguarded
  // partition swaps positions 1<->4 and 2<->3 and cuts at 3, insertion sort keeps
  // [2, 4, 3]: indices {2, 4} are pruned.
  Parameter p = Param("w", {5}, {1, 1, 1, 1, 1});
  L1Unstructured(p, PruneAmount::Count(2));
  EXPECT_EQ(PrunedIndices(p), (std::vector<int64_t>{2, 4}));
  // A tie at the cut among distinct values: |w| = (3, 1, 2, 1, 5), 1 to prune. By hand: the
  // pivot is 2 (index 2), the partition cuts at 3, and insertion sort of
  // [(2,i2), (1,i1), (1,i3)] puts index 1 first: index 1 is pruned, index 3 kept.
  Parameter q = Param("q", {5}, {3, -1, 2, 1, 5});
  L1Unstructured(q, PruneAmount::Count(1));
  EXPECT_EQ(PrunedIndices(q), (std::vector<int64_t>{1}));
  // 128 equal entries, 2 to prune: k * 64 <= n, so partial_sort: its heap keeps the first two.
  Parameter r = Param("r", {128}, std::vector<float>(128, 0.5f));
  L1Unstructured(r, PruneAmount::Count(2));
  EXPECT_EQ(PrunedIndices(r), (std::vector<int64_t>{0, 1}));
}

TEST(L1Unstructured, ComposesOnTheUnprunedEntries) {
  Parameter p = Param("w", {6}, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f});
  L1Unstructured(p, PruneAmount::Fraction(0.5));  // 3 of 6
  EXPECT_EQ(PrunedCount(p), 3);
  L1Unstructured(p, PruneAmount::Fraction(0.5));  // round(0.5 * 3) = 2 of the 3 left
  EXPECT_EQ(Mask(p), (std::vector<float>{0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(p.value.data<float>()[5], 0.6f);
}

TEST(GlobalL1Unstructured, RanksAcrossTensors) {
  Parameter a = Param("a", {3}, {0.1f, 0.9f, 0.5f});
  Parameter b = Param("b", {2, 2}, {0.2f, -0.05f, 0.8f, 0.3f});
  // 7 entries, round(3.5) = 4: 0.05, 0.1, 0.2, 0.3.
  GlobalL1Unstructured({&a, &b}, PruneAmount::Fraction(0.5));
  EXPECT_EQ(Mask(a), (std::vector<float>{0, 1, 1}));
  EXPECT_EQ(Mask(b), (std::vector<float>{0, 0, 1, 0}));
  // Again: 3 left, round(1.5) = 2: 0.5 and 0.8.
  GlobalL1Unstructured({&a, &b}, PruneAmount::Fraction(0.5));
  EXPECT_EQ(Mask(a), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(Mask(b), (std::vector<float>{0, 0, 0, 0}));
}

TEST(L2Structured, PrunesOutputChannelsOfSmallestNorm) {
  // Row norms: 5, 1, 2, 10.
  Parameter p = Param("fc.weight", {4, 2}, {3, 4, 1, 0, 0, -2, 6, 8});
  L2Structured(p, PruneAmount::Fraction(0.5));
  EXPECT_EQ(Mask(p), (std::vector<float>{1, 1, 0, 0, 0, 0, 1, 1}));
  // One more channel of the 2 still alive: the row of norm 5.
  L2Structured(p, PruneAmount::Count(1));
  EXPECT_EQ(Mask(p), (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_THROW(L2Structured(p, PruneAmount::Count(2)), Error);
  // A Conv2d weight [3, 1, 2, 2]: filter norms 2, 4, 1; round(0.5 * 3) = 2 filters pruned.
  Parameter conv =
      Param("conv.weight", {3, 1, 2, 2}, {1, 1, 1, 1, 2, 2, 2, 2, 0.5f, 0.5f, 0.5f, 0.5f});
  L2Structured(conv, PruneAmount::Fraction(0.5));
  EXPECT_EQ(Mask(conv), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}));
  Parameter bias = Param("fc.bias", {4}, {1, 2, 3, 4});
  EXPECT_THROW(L2Structured(bias, PruneAmount::Count(1)), Error);
}

TEST(Prune, RemoveBakesTheMask) {
  Parameter p = Param("w", {4}, {0.1f, -2, 3, -0.2f});
  L1Unstructured(p, PruneAmount::Count(2));
  p.value.data<float>()[0] = 7;  // as if something wrote through the mask
  RemoveMask(p);
  EXPECT_FALSE(p.mask.defined());
  EXPECT_EQ(p.value.data<float>()[0], 0.0f);
  EXPECT_EQ(p.value.data<float>()[3], 0.0f);
  EXPECT_EQ(p.value.data<float>()[1], -2.0f);
  EXPECT_THROW(RemoveMask(p), Error);
}

TEST(Prune, MasksHoldThroughOptimizerSteps) {
  Parameter p = Param("w", {2, 3}, {0.5f, -0.1f, 2, 0.05f, -1, 0.3f});
  L1Unstructured(p, PruneAmount::Fraction(0.5));  // 0.05, 0.1, 0.3
  Sgd sgd({&p}, {.lr = 0.5, .momentum = 0.9, .weight_decay = 0.1});
  for (int step = 0; step < 10; ++step) {
    for (int i = 0; i < 6; ++i) p.grad.data<float>()[i] = 1.0f + i;
    sgd.Step();
    for (int64_t i : {1, 3, 5}) EXPECT_EQ(p.value.data<float>()[i], 0.0f) << "step " << step;
  }
  EXPECT_NE(p.value.data<float>()[0], 0.5f);  // unpruned entries did train
}

TEST(GradualPruning, CubicScheduleAtGivenSteps) {
  GradualPruning g({.initial_sparsity = 0,
                    .final_sparsity = 0.8,
                    .begin_step = 10,
                    .end_step = 110,
                    .frequency = 20});
  EXPECT_DOUBLE_EQ(g.SparsityAt(0), 0);
  EXPECT_DOUBLE_EQ(g.SparsityAt(10), 0);
  EXPECT_NEAR(g.SparsityAt(30), 0.8 - 0.8 * 0.8 * 0.8 * 0.8, 1e-12);  // (1 - 20/100)^3
  EXPECT_NEAR(g.SparsityAt(60), 0.8 - 0.8 * 0.125, 1e-12);            // (1 - 1/2)^3
  EXPECT_DOUBLE_EQ(g.SparsityAt(110), 0.8);
  EXPECT_DOUBLE_EQ(g.SparsityAt(500), 0.8);
  EXPECT_TRUE(g.IsPruningStep(10));
  EXPECT_TRUE(g.IsPruningStep(30));
  EXPECT_FALSE(g.IsPruningStep(40));
  EXPECT_TRUE(g.IsPruningStep(110));
  EXPECT_FALSE(g.IsPruningStep(130));
  EXPECT_FALSE(g.IsPruningStep(0));
  GradualPruning from_half({.initial_sparsity = 0.5,
                            .final_sparsity = 0.9,
                            .begin_step = 0,
                            .end_step = 100,
                            .frequency = 10});
  EXPECT_NEAR(from_half.SparsityAt(50), 0.9 - 0.4 * 0.125, 1e-12);

  std::vector<float> values(100);
  for (int i = 0; i < 100; ++i) values[i] = static_cast<float>(100 - i);
  Parameter p = Param("w", {10, 10}, values);
  EXPECT_FALSE(g.Step(20, {&p}));
  EXPECT_TRUE(g.Step(30, {&p}));
  EXPECT_EQ(PrunedCount(p), 39);  // round(39.04)
  EXPECT_TRUE(g.Step(50, {&p}));
  EXPECT_EQ(PrunedCount(p), 63);  // 0.8 - 0.8 * 0.6^3 = 0.6272
  // The smallest values (the last entries) are the pruned ones.
  EXPECT_EQ(p.mask.data<float>()[99], 0.0f);
  EXPECT_EQ(p.mask.data<float>()[37], 0.0f);
  EXPECT_EQ(p.mask.data<float>()[36], 1.0f);
  EXPECT_TRUE(g.Step(110, {&p}));
  EXPECT_EQ(PrunedCount(p), 80);
}

TEST(SparsityReport, CountsPerTensorAndOverall) {
  Parameter a = Param("fc1.weight", {2, 2}, {1, 2, 3, 4});
  Parameter b = Param("fc1.bias", {2}, {0, 5});
  L1Unstructured(a, PruneAmount::Count(3));
  SparsityReport report({&a, &b});
  ASSERT_EQ(report.rows().size(), 2u);
  EXPECT_EQ(report.rows()[0].zeros, 3);
  EXPECT_EQ(report.rows()[0].masked, 3);
  EXPECT_EQ(report.rows()[1].zeros, 1);
  EXPECT_EQ(report.rows()[1].masked, 0);
  EXPECT_EQ(report.total().numel, 6);
  EXPECT_EQ(report.total().zeros, 4);
  const std::string text = report.ToString();
  EXPECT_NE(text.find("fc1.weight"), std::string::npos) << text;
  EXPECT_NE(text.find("75.00%"), std::string::npos) << text;
  EXPECT_NE(text.find("66.67%"), std::string::npos) << text;
}

}  // namespace
}  // namespace millrace::ops
