// ClassificationMetrics against values worked out by hand.
#include "pipelines/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace millrace::pipelines {
namespace {

Tensor Labels64(std::initializer_list<int64_t> values) {
  Tensor t = Tensor::Empty({static_cast<int64_t>(values.size())}, DType::kI64);
  int64_t* p = t.data<int64_t>();
  for (int64_t v : values) *p++ = v;
  return t;
}

TEST(ClassificationMetrics, AccuracyConfusionAndLossByHand) {
  // 4 samples, 3 classes. Predictions (argmax): 0, 2, 1, 1 (the tie in row 2 goes to the
  // first maximum, class 1). Truth: 0, 1, 1, 2.
  Tensor logits = Tensor::FromVector({4, 3}, {2.0f, 1.0f, 0.0f,  //
                                              0.0f, 0.0f, 1.0f,  //
                                              0.0f, 3.0f, 3.0f,  //
                                              -1.0f, 0.5f, 0.25f});
  ClassificationMetrics m(3);
  m.Add(logits, Labels64({0, 1, 1, 2}));
  EXPECT_EQ(m.samples(), 4);
  EXPECT_EQ(m.correct(), 2);
  EXPECT_DOUBLE_EQ(m.Accuracy(), 0.5);
  EXPECT_EQ(m.Count(0, 0), 1);
  EXPECT_EQ(m.Count(1, 2), 1);
  EXPECT_EQ(m.Count(1, 1), 1);
  EXPECT_EQ(m.Count(2, 1), 1);
  EXPECT_EQ(m.Count(2, 2), 0);
  EXPECT_DOUBLE_EQ(m.Recall(1), 0.5);     // class 1: 2 samples, 1 right
  EXPECT_DOUBLE_EQ(m.Precision(1), 0.5);  // predicted 1 twice, once right
  EXPECT_DOUBLE_EQ(m.Recall(2), 0.0);
  // Cross-entropy per row: log(sum_j e^z_j) - z_truth.
  const double l0 = std::log(std::exp(2.0) + std::exp(1.0) + 1.0) - 2.0;
  const double l1 = std::log(2.0 + std::exp(1.0)) - 0.0;
  const double l2 = std::log(1.0 + 2.0 * std::exp(3.0)) - 3.0;
  const double l3 = std::log(std::exp(-1.0) + std::exp(0.5) + std::exp(0.25)) - 0.25;
  EXPECT_NEAR(m.MeanLoss(), (l0 + l1 + l2 + l3) / 4.0, 1e-12);
}

TEST(ClassificationMetrics, MergeEqualsOneAccumulator) {
  Tensor a = Tensor::FromVector({2, 2}, {1.0f, 0.0f, 0.0f, 1.0f});
  Tensor b = Tensor::FromVector({1, 2}, {5.0f, -5.0f});
  ClassificationMetrics whole(2), part1(2), part2(2);
  whole.Add(a, Labels64({0, 0}));
  whole.Add(b, Labels64({1}));
  part1.Add(a, Labels64({0, 0}));
  part2.Add(b, Labels64({1}));
  part1.Merge(part2);
  EXPECT_EQ(part1.samples(), 3);
  EXPECT_EQ(part1.correct(), 1);
  EXPECT_DOUBLE_EQ(part1.MeanLoss(), whole.MeanLoss());
  EXPECT_EQ(part1.Count(1, 0), 1);
  EXPECT_EQ(part1.Count(0, 1), 1);
}

TEST(ClassificationMetrics, I32LabelsAndLargeLogitsStayFinite) {
  Tensor logits = Tensor::FromVector({1, 2}, {1000.0f, -1000.0f});
  Tensor labels = Tensor::Empty({1}, DType::kI32);
  labels.data<int32_t>()[0] = 1;
  ClassificationMetrics m(2);
  m.Add(logits, labels);
  EXPECT_NEAR(m.MeanLoss(), 2000.0, 1e-9);  // log(1 + e^-2000) + 2000
  EXPECT_EQ(m.correct(), 0);
}

TEST(ClassificationMetrics, BadInputsAreNamed) {
  ClassificationMetrics m(3);
  Tensor logits = Tensor::FromVector({1, 3}, {0.0f, 1.0f, 2.0f});
  try {
    m.Add(logits, Labels64({3}));
    FAIL() << "label out of range accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(std::string(e.what()).find("label 3 out of range"), std::string::npos);
  }
  Tensor wide = Tensor::FromVector({1, 4}, {0.0f, 1.0f, 2.0f, 3.0f});
  EXPECT_THROW(m.Add(wide, Labels64({0})), Error);
  EXPECT_EQ(m.samples(), 0);
}

TEST(ClassificationMetrics, ConfusionTableShowsCountsAndRecall) {
  ClassificationMetrics m(2);
  m.Add(Tensor::FromVector({3, 2}, {1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}), Labels64({0, 1, 1}));
  const std::string table = m.ConfusionTable({"cat", "dog"});
  EXPECT_NE(table.find("cat"), std::string::npos);
  EXPECT_NE(table.find("100.0%"), std::string::npos);  // cat: 1 of 1
  EXPECT_NE(table.find("50.0%"), std::string::npos);   // dog: 1 of 2
}

}  // namespace
}  // namespace millrace::pipelines
