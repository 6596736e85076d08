// ReLU and Dropout.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ops/activation/dropout.h"
#include "ops/activation/relu.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::RandomTensor;

// Values away from the kink at 0 (|x| >= 0.1), so that +-eps never crosses it.
Tensor AwayFromZero(const Shape& shape, uint64_t seed) {
  Tensor t = RandomTensor(shape, seed);
  for (float& v : t.span<float>()) v = v < 0 ? v - 0.1f : v + 0.1f;
  return t;
}

TEST(ReLU, ForwardAndBackwardByHand) {
  ReLU relu;
  Tensor x = Tensor::FromVector({2, 3}, {-1.f, 0.5f, 2.f, -0.f, -3.f, 4.f});
  Tensor y = relu.Forward(x, Mode::kTrain);
  const float expected[] = {0.f, 0.5f, 2.f, 0.f, 0.f, 4.f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data<float>()[i], expected[i]);
  Tensor dx = relu.Backward(Tensor::FromVector({2, 3}, {1, 2, 3, 4, 5, 6}));
  const float expected_dx[] = {0, 2, 3, 0, 0, 6};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(dx.data<float>()[i], expected_dx[i]);
}

TEST(ReLU, BackwardMatchesFiniteDifferences) {
  ReLU relu;
  testing::ExpectGradientsMatch(relu, AwayFromZero({3, 2, 4, 4}, 1), 2);
}

TEST(ReLU, ShapeErrors) {
  ReLU relu;
  EXPECT_THROW(relu.Backward(Tensor::Zeros({2, 2})), Error);
  relu.Forward(Tensor::Zeros({2, 2}), Mode::kTrain);
  EXPECT_THROW(relu.Backward(Tensor::Zeros({2, 3})), Error);
}

TEST(Dropout, SeededReproducibleAndScaled) {
  Tensor x = Tensor::Empty({64, 100});
  x.Fill(1.f);
  Dropout a(0.25, 7), b(0.25, 7), c(0.25, 8);
  Tensor ya = a.Forward(x, Mode::kTrain);
  Tensor yb = b.Forward(x, Mode::kTrain);
  Tensor yc = c.Forward(x, Mode::kTrain);
  EXPECT_TRUE(testing::SameBits(ya, yb));
  EXPECT_FALSE(testing::SameBits(ya, yc));
  // A second call draws a new mask.
  EXPECT_FALSE(testing::SameBits(ya, a.Forward(x, Mode::kTrain)));
  int64_t kept = 0;
  for (float v : ya.span<float>()) {
    ASSERT_TRUE(v == 0.f || v == 1.f / 0.75f) << v;
    kept += v != 0.f;
  }
  // 6400 Bernoulli(0.75) draws: mean 4800, sd ~35.
  EXPECT_NEAR(static_cast<double>(kept), 4800.0, 200.0);
}

TEST(Dropout, BackwardUsesTheSameMask) {
  Dropout d(0.5, 3);
  Tensor x = RandomTensor({8, 16}, 4);
  Tensor y = d.Forward(x, Mode::kTrain);
  Tensor dy = RandomTensor({8, 16}, 5);
  Tensor dx = d.Backward(dy);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float scale = y.data<float>()[i] / x.data<float>()[i];  // 0 or 2
    EXPECT_NEAR(dx.data<float>()[i], dy.data<float>()[i] * scale, 1e-6);
  }
}

TEST(Dropout, EvalIsIdentity) {
  Dropout d(0.9, 1);
  Tensor x = RandomTensor({4, 5}, 2);
  Tensor y = d.Forward(x, Mode::kEval);
  EXPECT_TRUE(testing::SameBits(x, y));
  EXPECT_THROW(d.Backward(x), Error);
  EXPECT_THROW(Dropout(1.0), Error);
  EXPECT_THROW(Dropout(-0.1), Error);
}

}  // namespace
}  // namespace millrace::ops
